// The page a verification mail links to. The token is in the fragment (never sent to a
// server by the browser); it is posted only with the password chosen at sign-up, so neither
// a mail scanner that fetches the link nor the mailbox's owner clicking a link that someone
// else's sign-up caused verifies anything.
import { api, ApiError } from "./api.js";
import { startI18n } from "./i18n.js";

const $ = (id) => document.getElementById(id);

function finish(done) {
  $("verify-form").hidden = true;
  $("verify-done").hidden = !done;
  $("verify-failed").hidden = done;
}

const token = location.hash.slice(1);
if (!token) finish(false);
// Listen before the strings load, so that an early press is not lost.
$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("verify-button").disabled = true;
  $("verify-wrong").hidden = true;
  try {
    await api("POST", "/api/auth/verify", { token, password: $("verify-password").value });
    history.replaceState(null, "", location.pathname);
    finish(true);
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      $("verify-wrong").hidden = false;
      $("verify-button").disabled = false;
    } else {
      finish(false);
    }
  }
});

await startI18n();
