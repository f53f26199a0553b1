// The meeting page: pre-join → (waiting room) → room → ended.
import { announce } from "./announcer.js";
import { currentUser } from "./api.js";
import { linkSecretOf, newLinkSecret } from "./e2ee.js";
import { startI18n, t } from "./i18n.js";
import { PreJoin } from "./prejoin.js";
import { Room } from "./room.js";
import { Signaling } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const meetingId = location.pathname.split("/").pop();

// The passcode travels in the link's fragment (never sent to a server). Read it, then take it
// out of the address bar so a shared screen does not show it.
function takePasscode() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromLink = params.get("pwd");
  const key = `mosaic.passcode.${meetingId}`;
  if (fromLink) {
    sessionStorage.setItem(key, fromLink);
    history.replaceState(null, "", location.pathname);
  }
  return fromLink || sessionStorage.getItem(key) || "";
}

// An end-to-end encrypted meeting's key travels in the fragment too (#k=…): kept for this tab
// (a reload still holds it), else the one this browser made when its host created the meeting.
const E2EE_KEY = `mosaic.e2ee.${meetingId}`;
function takeLinkKey() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("k");
  if (fromLink !== null) sessionStorage.setItem(E2EE_KEY, fromLink);
  return fromLink ?? sessionStorage.getItem(E2EE_KEY) ?? localStorage.getItem(E2EE_KEY);
}

// The link to invite others: the meeting's, with the passcode and the key in its fragment.
function inviteLink(linkKey) {
  const params = new URLSearchParams();
  const passcode = $("passcode").value.trim();
  if (passcode) params.set("pwd", passcode);
  if (linkKey) params.set("k", linkKey);
  const fragment = params.toString();
  return `${location.origin}/m/${meetingId}${fragment ? `#${fragment}` : ""}`;
}

// The link secret to enter ``joined`` with; null if this meeting is not end-to-end encrypted;
// undefined when it is and we hold no key. A host who opens it without one (a meeting
// made through the API) makes it, unless others already hold the meeting's.
function meetingKey(joined) {
  if (!(joined.meeting.settings || {}).e2ee) return null;
  if (!linkSecretOf(linkKey)) {
    const host = ["host", "cohost"].includes(joined.self.role);
    const othersKeyed = joined.participants.some((p) => p.id !== joined.self.id && p.e2ee_key);
    if (!host || othersKeyed || linkKey) return undefined;
    linkKey = newLinkSecret();
    localStorage.setItem(E2EE_KEY, linkKey);
    sessionStorage.setItem(E2EE_KEY, linkKey);
  }
  return linkSecretOf(linkKey);
}

function deviceId() {
  let id = localStorage.getItem("mosaic.device");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    localStorage.setItem("mosaic.device", id);
  }
  return id;
}

function show(section) {
  for (const id of ["prejoin", "waiting", "room", "ended"]) $(id).hidden = id !== section;
}

// The page changed under the person's feet: focus goes to the new view's heading (read out by a
// screen reader, the start of the Tab order), not to <body> with the control that vanished.
function focusHeading(heading) {
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

function ended(reason) {
  $("ended").dataset.reason = reason;
  $("ended-title").textContent = t(`ended.${reason}.title`);
  $("ended-body").textContent = t(`ended.${reason}.body`);
  show("ended");
  focusHeading($("ended-title"));
}

function formError(message) {
  const box = $("join-form").querySelector(".form-error");
  box.textContent = message;
  box.hidden = !message;
}

async function join(prejoin) {
  const name = $("name").value.trim();
  if (!name) {
    formError(t("prejoin.name_required"));
    return;
  }
  localStorage.setItem("mosaic.name", name);
  formError("");
  $("join").disabled = true;
  const signaling = new Signaling();
  let done = false;
  const finish = (reason) => {
    if (done) return;
    done = true;
    ended(reason);
  };
  try {
    await signaling.connect();
    const result = await signaling.request("join", {
      meeting: meetingId,
      name,
      passcode: $("passcode").value.trim() || null,
      device: deviceId(),
    });
    signaling.keepAlive();
    const stream = prejoin.release();
    const enterRoom = (joined) => {
      const link = meetingKey(joined);
      if (link === undefined) {
        // Nothing of ours is sent: no key, no meeting (not black tiles).
        signaling.request("leave").catch(() => {}).finally(() => signaling.close());
        for (const track of stream.getTracks()) track.stop();
        finish("nokey");
        return;
      }
      show("room");
      window.mosaicRoom = new Room(signaling, joined, stream, {
        micOn: prejoin.micOn,
        camOn: prejoin.camOn,
        onLeave: finish,
        link,
        inviteLink: inviteLink(link ? linkKey : null),
      });
      focusHeading($("topic"));
    };
    signaling.on("admitted", (event) => {
      enterRoom(event);
      announce(t("announce.admitted"));
    });
    signaling.on("denied", () => finish("denied"));
    signaling.on("removed", () => finish("removed"));
    signaling.on("ended", () => finish("ended"));
    // A resume the server refused says why (removed, the meeting ended); otherwise the
    // connection could not come back.
    signaling.on("close", (event) => finish(["removed", "ended"].includes(event.reason) ? event.reason : "disconnected"));
    if (result.state === "waiting") {
      show("waiting");
      announce(t("announce.waiting"));
      focusHeading($("waiting").querySelector("h1"));
      $("waiting-leave").onclick = () => {
        signaling.close();
        finish("left");
      };
    } else {
      enterRoom(result);
    }
  } catch (error) {
    signaling.close();
    $("join").disabled = false;
    // The server's words are English; a reason it names is said in the page's language.
    const key = error.reason && error.reason !== "bad_passcode_or_id" ? `refusal.${error.reason}` : `error.${error.code || "generic"}`;
    formError(t(key, { message: error.message }));
  }
}

// The form never submits itself (that would put the passcode in a URL). Join (or Enter) before
// the devices are ready says so and joins once they are: a disabled button would swallow Enter
// without a word, so the button stays enabled and says aria-disabled until then.
const prejoin = new PreJoin();
let devicesReady = false;
let joinWhenReady = false;
$("join").setAttribute("aria-disabled", "true");
$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("join").disabled) return;
  if (devicesReady) {
    join(prejoin);
    return;
  }
  joinWhenReady = true;
  $("join-status").textContent = t("prejoin.starting");
});
await startI18n();
show("prejoin");
let linkKey = takeLinkKey();
$("passcode").value = takePasscode();
if (location.hash) history.replaceState(null, "", location.pathname);
const user = await currentUser().catch(() => null);
$("name").value = localStorage.getItem("mosaic.name") || (user ? user.name : "");
await prejoin.start().catch((error) => console.warn("device preview failed", error));
devicesReady = true;
$("join").removeAttribute("aria-disabled");
$("join-status").textContent = "";
if (joinWhenReady) join(prejoin);
