// The home page: sign up, sign in, and a host's meetings.
import { api, ApiError, currentUser } from "./api.js";
import { newLinkSecret } from "./e2ee.js";
import { bindLanguageSelect, startI18n, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let user = null;

function showError(form, message) {
  const box = form.querySelector(".form-error");
  box.textContent = message;
  box.hidden = !message;
}

function errorText(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return t("auth.wrong_credentials");
    const problem = error.status === 422 && Array.isArray(error.detail) ? error.detail[0] : null;
    if (problem && problem.type === "weak_password") return t(`password.${problem.ctx.reason}`);
    if (error.status === 429) return t("error.rate_limited");
    if (error.status === 422) return t("auth.invalid_input");
  }
  return t("error.generic");
}

async function render() {
  user = await currentUser();
  $("welcome").hidden = Boolean(user);
  $("dashboard").hidden = !user;
  $("logout").hidden = !user;
  $("whoami").hidden = !user;
  if (user) {
    $("whoami").textContent = user.name;
    renderVerification();
    await renderMeetings();
    if (user.is_admin) await renderUnverified();
  }
}

// Until the address is verified, meetings limited to e-mail domains or to signed-in users
// refuse this account: say so, and offer what helps (a new link, or the admin).
function renderVerification() {
  $("verify-banner").hidden = user.email_verified;
  const byMail = user.verification_by === "mail";
  $("resend").hidden = !byMail;
  $("verify-by-admin").hidden = byMail;
  $("resend-status").hidden = true;
}

async function renderUnverified() {
  const accounts = await api("GET", "/api/admin/accounts/unverified");
  $("admin-accounts").hidden = accounts.length === 0;
  $("unverified").replaceChildren(...accounts.map(unverifiedItem));
}

function unverifiedItem(account) {
  const item = document.createElement("li");
  item.className = "meeting-item";
  const text = document.createElement("div");
  const name = document.createElement("div");
  name.className = "meeting-title";
  name.textContent = account.name;
  const email = document.createElement("div");
  email.className = "mono hint";
  email.textContent = account.email;
  text.append(name, email);
  const verify = document.createElement("button");
  verify.type = "button";
  verify.className = "button small";
  verify.textContent = t("admin.verify");
  verify.addEventListener("click", async () => {
    await api("POST", `/api/admin/accounts/${account.id}/verify`);
    await render();
  });
  item.append(text, verify);
  return item;
}

// An end-to-end encrypted meeting's key is made here, in the host's browser, and kept only
// here (this browser's storage) and in the link's fragment, which no browser sends to a server.
function keyFor(meeting) {
  const name = `mosaic.e2ee.${meeting.id}`;
  if (!localStorage.getItem(name)) localStorage.setItem(name, newLinkSecret());
  return localStorage.getItem(name);
}

// The meeting's link, with its key in the fragment when it is end-to-end encrypted.
function linkOf(meeting) {
  if (!meeting.settings || !meeting.settings.e2ee) return meeting.join_url;
  const key = localStorage.getItem(`mosaic.e2ee.${meeting.id}`);
  if (!key) return meeting.join_url; // made elsewhere: its host's browser makes one on entering
  return `${meeting.join_url}${meeting.join_url.includes("#") ? "&" : "#"}k=${key}`;
}

function meetingItem(meeting) {
  const item = document.createElement("li");
  item.className = "meeting-item";
  item.dataset.meetingId = meeting.id;
  const title = document.createElement("div");
  title.className = "meeting-title";
  title.textContent = meeting.topic;
  const id = document.createElement("div");
  id.className = "mono hint";
  id.textContent = meeting.id;
  const start = document.createElement("a");
  start.className = "button primary small";
  start.href = linkOf(meeting);
  start.textContent = t("dashboard.start");
  // Editing: end-to-end encryption on or off (a new key is made when it goes on).
  const e2ee = document.createElement("button");
  e2ee.type = "button";
  e2ee.className = "button subtle small";
  const on = Boolean(meeting.settings && meeting.settings.e2ee);
  e2ee.setAttribute("aria-pressed", String(on));
  e2ee.dataset.e2eeToggle = meeting.id;
  e2ee.textContent = t("dashboard.e2ee");
  e2ee.addEventListener("click", async () => {
    try {
      const changed = await api("PATCH", `/api/meetings/${meeting.id}`, { settings: { e2ee: !on } });
      if (changed.settings.e2ee) {
        localStorage.removeItem(`mosaic.e2ee.${meeting.id}`);
        keyFor(changed);
        showCreated(changed);
      }
    } catch (error) {
      // Refused by the instance's policy (it requires encryption) or by a running recording.
      const why = error instanceof ApiError && { 422: "dashboard.e2ee_required", 409: "dashboard.e2ee_recording" }[error.status];
      window.alert(why ? t(why) : errorText(error));
    }
    await renderMeetings();
  });
  const recordings = document.createElement("a");
  recordings.className = "button subtle small";
  recordings.href = `/recordings?meeting=${encodeURIComponent(meeting.id)}`;
  recordings.textContent = t("dashboard.recordings");
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button subtle small";
  remove.textContent = t("dashboard.delete");
  remove.addEventListener("click", async () => {
    await api("DELETE", `/api/meetings/${meeting.id}`);
    await renderMeetings();
  });
  const text = document.createElement("div");
  text.append(title, id);
  const actions = document.createElement("div");
  actions.className = "row";
  actions.append(start, e2ee, recordings, remove);
  item.append(text, actions);
  return item;
}

async function renderMeetings() {
  const meetings = await api("GET", "/api/meetings");
  $("meetings").replaceChildren(...meetings.map(meetingItem));
  $("no-meetings").hidden = meetings.length > 0;
}

function showCreated(meeting) {
  $("created").hidden = false;
  const url = linkOf(meeting);
  const link = $("created-link");
  link.href = url;
  link.textContent = url;
  $("created-e2ee").hidden = !meeting.settings.e2ee;
  $("created-id").textContent = meeting.id;
  $("created-passcode").textContent = meeting.passcode || t("dashboard.no_passcode");
  $("start-meeting").href = url;
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  showError(form, "");
  try {
    await api("POST", "/api/auth/login", formValues(form));
    await render();
  } catch (error) {
    showError(form, errorText(error));
  }
});

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  showError(form, "");
  const values = formValues(form);
  if (values.password.length < 10) {
    showError(form, t("password.too_short"));
    return;
  }
  // Sign-up answers the same whether or not the address has an account (and never signs in):
  // signing in next works for a new account; otherwise the mail tells the owner what happened.
  let accepted;
  try {
    accepted = await api("POST", "/api/auth/signup", values);
  } catch (error) {
    showError(form, errorText(error));
    return;
  }
  try {
    await api("POST", "/api/auth/login", { email: values.email, password: values.password });
    await render();
  } catch {
    showError(
      form,
      t(accepted.verification === "mail" ? "auth.signup_sent" : "auth.signup_sent_admin"),
    );
  }
});

$("resend").addEventListener("click", async () => {
  const status = $("resend-status");
  try {
    await api("POST", "/api/auth/verification");
    status.textContent = t("account.resend_sent");
  } catch (error) {
    status.textContent = t(
      error instanceof ApiError && error.status === 429 ? "account.resend_wait" : "error.generic",
    );
  }
  status.hidden = false;
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/auth/logout");
  $("created").hidden = true;
  await render();
});

$("new-meeting-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const topic = $("topic").value.trim();
  const body = $("new-e2ee").checked ? { topic, settings: { e2ee: true } } : { topic };
  let meeting;
  try {
    meeting = await api("POST", "/api/meetings", body);
  } catch (error) {
    window.alert(errorText(error));
    return;
  }
  // On when asked, or when the instance requires it.
  if (meeting.settings.e2ee) keyFor(meeting);
  showCreated(meeting);
  $("topic").value = "";
  await renderMeetings();
});

$("copy-link").addEventListener("click", async () => {
  await navigator.clipboard.writeText($("created-link").href);
  $("copy-link").textContent = t("dashboard.copied");
});

// What people paste is what they were sent: a bare ID ("kq7w m3xe p9hd") or the whole link
// ("https://host/m/kq7w-m3xe-p9hd#pwd=…"). A link keeps its server and its passcode, which stays
// in the fragment (never sent to a server); anything but an http(s) meeting link is refused.
function meetingTarget(text) {
  const canonical = (raw) => {
    const id = raw.toLowerCase().replace(/[\s-]/g, "");
    return /^[a-z0-9]{12}$/.test(id) ? `${id.slice(0, 4)}-${id.slice(4, 8)}-${id.slice(8)}` : null;
  };
  const pasted = text.trim();
  if (!pasted.includes("/")) {
    const id = canonical(pasted);
    return id && `/m/${id}`;
  }
  let url;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:/i.test(pasted) ? pasted : `https://${pasted}`);
  } catch {
    return null;
  }
  const path = url.pathname.match(/^\/m\/([^/]+)\/?$/);
  const id = path && canonical(decodeURIComponent(path[1]));
  if (!["http:", "https:"].includes(url.protocol) || !id) return null;
  const passcode = new URLSearchParams(url.hash.slice(1)).get("pwd");
  const fragment = passcode ? `#pwd=${encodeURIComponent(passcode)}` : "";
  const origin = url.origin === location.origin ? "" : url.origin;
  return `${origin}/m/${id}${fragment}`;
}

$("join-by-id").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = meetingTarget($("join-id").value);
  if (target) {
    location.href = target;
  } else {
    $("join-id").setCustomValidity(t("home.bad_id"));
    $("join-id").reportValidity();
  }
});
$("join-id").addEventListener("input", () => $("join-id").setCustomValidity(""));

await startI18n();
bindLanguageSelect($("language"), () => render());
await render();
