// The page a verification mail links to. The token is in the fragment (never sent to a
// server by the browser); it is posted only when the person presses the button, so a mail
// scanner that fetches the link verifies nothing.
import { api } from "./api.js";
import { startI18n } from "./i18n.js";

const $ = (id) => document.getElementById(id);

const token = location.hash.slice(1);
if (!token) {
  $("verify-button").hidden = true;
  $("verify-failed").hidden = false;
}
// Listen before the strings load, so that an early press is not lost.
$("verify-button").addEventListener("click", async () => {
  $("verify-button").disabled = true;
  try {
    await api("POST", "/api/auth/verify", { token });
    history.replaceState(null, "", location.pathname);
    $("verify-intro").hidden = true;
    $("verify-button").hidden = true;
    $("verify-done").hidden = false;
  } catch {
    $("verify-button").hidden = true;
    $("verify-failed").hidden = false;
  }
});

await startI18n();
