// A meeting the user has entered: state from the server's events, and the room's controls.
import { announce } from "./announcer.js";
import { Breakouts } from "./breakouts.js";
import { ChatPanel } from "./chat.js";
import { E2ee } from "./e2ee.js";
import { HelpDialog } from "./help.js";
import { bindLanguageSelect, t, translate } from "./i18n.js";
import { Media } from "./media.js";
import { MenuButton, closeMenus } from "./menu.js";
import { PeoplePanel } from "./people.js";
import { RecordingControl } from "./recording.js";
import { Stage } from "./stage.js";

const $ = (id) => document.getElementById(id);
const REACTIONS = ["👍", "👏", "❤️", "😂", "😮", "🎉"];
const PANELS = ["people", "chat", "security", "breakouts"];

export class Room {
  // link: the meeting's link secret when it is end-to-end encrypted (else null);
  // inviteLink: the link to share (with the passcode and key in its fragment).
  constructor(signaling, joined, localStream, { micOn, camOn, onLeave, link = null, inviteLink = "" }) {
    this.signaling = signaling;
    this.localStream = localStream;
    this.micOn = micOn && localStream.getAudioTracks().length > 0;
    this.camOn = camOn && localStream.getVideoTracks().length > 0;
    this.onLeave = onLeave;
    this.participants = new Map();
    this.waiting = [];
    this.dominantSpeaker = null;
    this.screenStream = null;
    this.media = null;
    this.pausedVideos = new Set(); // "participant:source" the server paused for our downlink
    this.enter(joined);
    this.inviteLink = inviteLink;
    this.e2ee = link
      ? new E2ee(signaling, {
          selfId: this.selfId,
          link,
          people: () => this.participants.values(),
          onChange: () => {
            this.renderE2ee();
            this.stage.render();
          },
          onWrongKey: () => this.wrongKey(),
        })
      : null;
    this.dataSaver = localStorage.getItem(this.dataSaverKey()) === "true";
    this.people = new PeoplePanel(this);
    this.stage = new Stage(this);
    this.chat = new ChatPanel(this);
    this.chat.restore(joined.chat); // a page reloaded within the meeting: what it was sent
    this.breakouts = new Breakouts(this, joined.breakouts);
    this.recording = new RecordingControl(this);
    signaling.on("roster", (event) => this.applyRoster(event));
    signaling.on("waiting", (event) => {
      const more = event.participants.length > this.waiting.length;
      this.waiting = event.participants;
      this.render();
      if (more && this.isHost()) this.toast(t("people.someone_waiting", { count: this.waiting.length }));
    });
    signaling.on("meeting", (event) => this.applyMeeting(event));
    signaling.on("speaking", (event) => this.stage.setSpeaking(event.participants));
    signaling.on("speaker", (event) => {
      this.dominantSpeaker = event.participant;
      if (this.stage.layout === "speaker") this.stage.render();
      else this.stage.renderSpeaker();
    });
    signaling.on("muted", (event) => this.mutedByHost(event));
    signaling.on("suspended", (event) => this.suspended(event));
    signaling.on("video_paused", (event) => this.videoPaused(event));
    signaling.on("reaction", (event) => this.stage.showReaction(event.participant, event.emoji));
    // Alerts carry their figures ({guests}, {seconds}, {failures}) for the message.
    signaling.on("alert", (event) => this.toast(t(`alert.${event.code}`, event)));
    // "Reconnecting…" stays up for as long as it lasts (a restart of the server may take a while).
    signaling.on("reconnecting", () => {
      if (this.reconnectingToast) this.reconnectingToast.remove();
      this.reconnectingToast = this.toast(t("connection.reconnecting"), { sticky: true, urgent: true });
    });
    signaling.on("close", () => {
      if (this.reconnectingToast) this.reconnectingToast.remove();
    });
    signaling.on("resumed", (result) => this.resumed(result));
    this.bindControls();
    this.help = new HelpDialog();
    this.render();
    // Whoever enters while the meeting is recorded chooses first; nothing of theirs is sent
    // (nor recorded) before they choose to stay.
    this.recording.consent().then(async (stay) => {
      if (!stay) {
        this.leave();
        return;
      }
      this.startMedia(joined.ice_servers || []);
    });
  }

  enter(joined) {
    this.self = joined.self;
    this.selfId = joined.self.id;
    this.meeting = joined.meeting;
    this.participants = new Map(joined.participants.map((p) => [p.id, p]));
    this.waiting = joined.waiting || [];
    $("room").hidden = false;
    translate($("room"));
  }

  isHost() {
    const me = this.participants.get(this.selfId) || this.self;
    return me.role === "host" || me.role === "cohost";
  }

  me() {
    return this.participants.get(this.selfId) || this.self;
  }

  // -- media -----------------------------------------------------------------------------

  async startMedia(iceServers) {
    this.media = new Media(this.signaling, this.localStream, {
      iceServers,
      onSlots: () => this.stage.render(),
      onTrack: (mid, track) => this.onRemoteTrack(mid, track),
      onFailed: (which) => this.toast(t("connection.media_restart", { which })),
      personOf: (id) => this.participants.get(id),
      e2ee: this.e2ee,
    });
    // Say what we show before any media flows, so the first keyframe is the right size.
    this.stage.reportView();
    // Keys before publishing (the worker sends nothing without one), after Media is listening
    // for the server's offer.
    if (this.e2ee) await this.e2ee.start().catch((error) => console.error("e2ee start failed", error));
    try {
      await this.media.publish();
      if (this.localStream.getAudioTracks().length) {
        await this.signaling.request("media", { source: "microphone", on: this.micOn }).catch(() => {
          this.setMic(false, false);
        });
      }
      if (this.localStream.getVideoTracks().length) {
        await this.signaling.request("media", { source: "camera", on: this.camOn }).catch(() => {
          this.setCam(false, false);
        });
      }
    } catch (error) {
      console.error("publishing failed", error);
      this.toast(t("error.media"));
    }
  }

  onRemoteTrack(mid, track) {
    // A restarted connection brings new tracks for the same slots.
    for (const old of document.querySelectorAll(`#audio-sink audio[data-mid="${mid}"]`)) old.remove();
    if (track.kind === "audio") {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = mid;
      audio.srcObject = new MediaStream([track]);
      $("audio-sink").append(audio);
    }
    this.stage.render();
  }

  // -- state from the server --------------------------------------------------------------

  // Back on a new connection: the server sent the room as it is now.
  resumed(result) {
    if (this.reconnectingToast) this.reconnectingToast.remove();
    this.reconnectingToast = null;
    if (result.state !== "joined") return;
    this.self = result.self;
    this.meeting = result.meeting;
    this.participants = new Map(result.participants.map((p) => [p.id, p]));
    this.waiting = result.waiting || [];
    this.toast(t("connection.back"));
    this.chat.restore(result.chat);
    this.render();
    // A restarted server lost our public key: say it again, so that keys reach us.
    if (this.e2ee) this.e2ee.sayHelloAgain();
    // The server restarted and lost our media: it starts afresh, on both connections.
    if (result.restored && this.media) this.restartMedia().catch((error) => console.error("media restart failed", error));
  }

  async restartMedia() {
    await this.media.startAfresh();
    const on = { microphone: this.micOn, camera: this.camOn, screen: Boolean(this.screenStream) };
    for (const [source, wanted] of Object.entries(on)) {
      if (wanted && this.media.senders[source]) await this.signaling.request("media", { source, on: true });
    }
    this.stage.reportView();
  }

  applyRoster({ joined, updated, left }) {
    const handWasUp = Boolean(this.me().hand);
    const arrived = joined.filter((p) => p.id !== this.selfId && !this.participants.has(p.id));
    const gone = left.map((id) => this.participants.get(id)).filter((p) => p && p.id !== this.selfId);
    for (const person of [...joined, ...updated]) this.participants.set(person.id, person);
    for (const id of left) this.participants.delete(id);
    if (this.participants.has(this.selfId)) this.self = this.participants.get(this.selfId);
    this.render();
    this.announceRoster(arrived, gone, handWasUp);
    // Only newcomers ratchet the key: ``joined`` may name someone our join snapshot held.
    if (this.e2ee) this.e2ee.roster({ joined: arrived, left }).catch((error) => console.error("e2ee roster", error));
  }

  // Said to screen-reader users what others see on the stage: who came and went (a crowd
  // arriving at once is counted, not read name by name), and their own hand going up or down.
  announceRoster(arrived, gone, handWasUp) {
    if (arrived.length > 3) announce(t("announce.joined_many", { count: arrived.length }));
    else for (const person of arrived) announce(t("announce.joined", { name: person.name }));
    if (gone.length <= 3) for (const person of gone) announce(t("announce.left", { name: person.name }));
    const handUp = Boolean(this.me().hand);
    if (handUp === handWasUp) return;
    const ours = this.handWanted === handUp;
    this.handWanted = null;
    if (handUp) announce(t("announce.hand_raised"));
    else announce(t(ours ? "announce.hand_lowered" : "announce.hand_lowered_by_host"));
  }

  // The server paused (or resumed) a video for us: our downlink cannot carry it now.
  videoPaused({ participant_id: id, source, paused }) {
    const key = `${id}:${source}`;
    if (paused === this.pausedVideos.has(key)) return;
    if (paused) this.pausedVideos.add(key);
    else this.pausedVideos.delete(key);
    this.stage.render();
  }

  // Data saver is chosen per meeting (a phone on mobile data in one meeting, not in all).
  dataSaverKey() {
    return `mosaic.dataSaver.${this.meeting.id}`;
  }

  setDataSaver(on) {
    this.dataSaver = on;
    localStorage.setItem(this.dataSaverKey(), String(on));
    this.render();
  }

  // "Your connection is unstable": shown while the server says our uplink cannot carry even
  // the smallest layer, and said once to a screen reader when it starts.
  renderUplink(me) {
    const unstable = Boolean(me.uplink_unstable);
    const notice = $("uplink-notice");
    if (unstable && notice.hidden) announce(t("quality.unstable_self"), { urgent: true });
    notice.hidden = !unstable;
  }

  applyMeeting(meeting) {
    const { type, ...fields } = meeting;
    this.meeting = { ...this.meeting, ...fields };
    this.render();
  }

  mutedByHost(event) {
    if (event.source === "microphone") this.setMic(false, false);
    if (event.source === "camera") this.setCam(false, false);
    if (event.source === "screen") this.stopShare(false);
    this.toast(t(`muted.${event.source}`, { name: event.by }));
  }

  suspended(event) {
    this.setMic(false, false);
    this.setCam(false, false);
    this.stopShare(false);
    this.toast(t("security.suspended_by", { name: event.by }));
  }

  // -- rendering -------------------------------------------------------------------------

  render() {
    const me = this.me();
    const settings = this.meeting.settings || {};
    $("topic").textContent = this.meeting.topic;
    document.title = `${this.meeting.topic} · ${t("app.name")}`;
    $("lock-badge").hidden = !this.meeting.locked;
    $("mic").setAttribute("aria-pressed", String(this.micOn));
    $("cam").setAttribute("aria-pressed", String(this.camOn));
    $("hand").setAttribute("aria-pressed", String(Boolean(me.hand)));
    $("share").setAttribute("aria-pressed", String(Boolean(this.screenStream)));
    $("share").hidden = !(this.isHost() || settings.screen_share === "everyone") || !navigator.mediaDevices.getDisplayMedia;
    $("security").hidden = !this.isHost();
    $("layout-select").value = this.stage.layout;
    $("page-size").value = String(this.stage.pageSize);
    $("hide-self").setAttribute("aria-pressed", String(this.stage.hideSelf));
    $("data-saver").setAttribute("aria-pressed", String(this.dataSaver));
    this.renderUplink(me);
    // Only a host's Leave opens a menu (leave, or end for all); anyone else's just leaves.
    if (me.role === "host") {
      $("leave").setAttribute("aria-haspopup", "menu");
      $("leave").setAttribute("aria-expanded", String(!$("leave-menu").hidden));
    } else {
      $("leave").removeAttribute("aria-haspopup");
      $("leave").removeAttribute("aria-expanded");
    }
    this.renderSecurity();
    this.renderE2ee();
    this.people.render();
    this.chat.render();
    this.breakouts.render();
    this.recording.render();
    this.stage.render();
  }

  // The lock and the safety code, for everyone in an encrypted meeting; the invite link.
  renderE2ee() {
    const on = Boolean(this.e2ee);
    $("e2ee-badge").hidden = !on;
    $("safety").hidden = !on;
    $("safety-code").textContent = on ? this.e2ee.safetyCode || t("e2ee.no_key_yet") : "";
    $("invite-link").value = this.inviteLink;
  }

  // Frames arrive and none decrypts with what the link's key opened: leave, and say why.
  async wrongKey() {
    try {
      await this.signaling.request("leave");
    } catch {
      // Already gone.
    }
    this.close();
    this.onLeave("wrongkey");
  }

  renderSecurity() {
    const settings = this.meeting.settings || {};
    $("sec-lock").checked = Boolean(this.meeting.locked);
    for (const input of document.querySelectorAll("#security-panel [data-setting]")) {
      const name = input.dataset.setting;
      input.checked = name === "screen_share" ? settings.screen_share === "everyone" : Boolean(settings[name]);
    }
  }

  // -- requests --------------------------------------------------------------------------

  async request(type, fields = {}) {
    try {
      return await this.signaling.request(type, fields);
    } catch (error) {
      this.toast(t(`error.${error.code}`, { message: error.message }));
      throw error;
    }
  }

  async setMic(on, tell = true) {
    if (tell) {
      try {
        await this.signaling.request("media", { source: "microphone", on });
      } catch {
        this.toast(t("error.unmute_forbidden"));
        return;
      }
    }
    this.micOn = on;
    for (const track of this.localStream.getAudioTracks()) track.enabled = on;
    this.render();
  }

  async setCam(on, tell = true) {
    if (tell) {
      try {
        await this.signaling.request("media", { source: "camera", on });
      } catch {
        this.toast(t("error.video_forbidden"));
        return;
      }
    }
    this.camOn = on;
    for (const track of this.localStream.getVideoTracks()) track.enabled = on;
    this.render();
  }

  async toggleShare() {
    if (this.screenStream) {
      await this.stopShare(true);
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    } catch {
      return; // the person cancelled the picker
    }
    try {
      await this.signaling.request("media", { source: "screen", on: true });
    } catch (error) {
      for (const track of stream.getTracks()) track.stop();
      this.toast(t(error.code === "forbidden" ? "share.forbidden" : `error.${error.code}`, { message: error.message }));
      return;
    }
    this.screenStream = stream;
    // Stopping from the browser's own "Stop sharing" bar ends the share here too.
    stream.getVideoTracks()[0].addEventListener("ended", () => this.stopShare(true));
    await this.media.startScreenShare(stream);
    this.render();
  }

  async stopShare(tell) {
    if (!this.screenStream) return;
    const stream = this.screenStream;
    this.screenStream = null;
    for (const track of stream.getTracks()) track.stop();
    if (tell) await this.signaling.request("media", { source: "screen", on: false }).catch(() => {});
    await this.media.stopScreenShare().catch(() => {});
    this.render();
  }

  toggleHand() {
    // Remembered so that a hand lowered by a host is told apart from one we lowered.
    this.handWanted = !this.me().hand;
    this.request("hand", { raised: this.handWanted }).catch(() => {});
  }

  // Opening a panel moves focus into it (its heading; the message box for chat); closing it
  // while focus is inside gives focus back to the button that opens it, never to <body>.
  togglePanel(name) {
    const panel = $(`${name}-panel`);
    const open = panel.hidden;
    const hadFocus = $("side-panel").contains(document.activeElement);
    closeMenus();
    for (const other of PANELS) $(`${other}-panel`).hidden = true;
    panel.hidden = !open;
    $("side-panel").hidden = !open;
    for (const other of PANELS) $(other).setAttribute("aria-pressed", String(open && other === name));
    if (open && name === "chat") this.chat.opened();
    else if (open) panel.querySelector("h2").focus();
    else if (hadFocus) $(name).focus();
    this.stage.render();
  }

  openPanel() {
    return PANELS.find((name) => !$(`${name}-panel`).hidden) || null;
  }

  // Escape in a panel closes a person's menu first if one is open, else the panel itself.
  panelEscape(event) {
    if (event.key !== "Escape") return;
    const menu = event.target.closest("details[open]");
    event.preventDefault();
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
      return;
    }
    const name = this.openPanel();
    if (name) this.togglePanel(name);
  }

  // -- controls --------------------------------------------------------------------------

  bindControls() {
    $("mic").addEventListener("click", () => this.setMic(!this.micOn));
    $("cam").addEventListener("click", () => this.setCam(!this.camOn));
    $("share").addEventListener("click", () => this.toggleShare());
    $("hand").addEventListener("click", () => this.toggleHand());
    for (const name of PANELS) $(name).addEventListener("click", () => this.togglePanel(name));
    for (const close of document.querySelectorAll(".close-panel")) {
      close.addEventListener("click", () => this.togglePanel(close.dataset.panel));
    }
    const picker = $("reaction-picker");
    picker.setAttribute("aria-orientation", "horizontal");
    const reactions = new MenuButton($("react"), picker);
    picker.replaceChildren(
      ...REACTIONS.map((emoji) => {
        const choice = document.createElement("button");
        choice.type = "button";
        choice.className = "reaction-choice";
        choice.setAttribute("role", "menuitem");
        choice.textContent = emoji;
        choice.addEventListener("click", () => {
          reactions.close();
          this.request("react", { emoji }).catch(() => {});
        });
        return choice;
      }),
    );
    $("react").addEventListener("click", () => reactions.toggle());
    const leaveMenu = new MenuButton($("leave"), $("leave-menu"), { available: () => this.me().role === "host" });
    $("leave").addEventListener("click", () => {
      if (this.me().role === "host") {
        leaveMenu.toggle();
      } else {
        this.leave();
      }
    });
    $("leave-only").addEventListener("click", () => this.leave());
    $("end-for-all").addEventListener("click", () => this.request("end").catch(() => {}));
    $("side-panel").addEventListener("keydown", (event) => this.panelEscape(event));
    $("layout-select").addEventListener("change", (event) => this.stage.setLayout(event.target.value));
    const sizes = $("page-size");
    for (const option of sizes.options) option.textContent = t("view.per_page", { count: option.value });
    sizes.addEventListener("change", (event) => this.stage.setPageSize(Number(event.target.value)));
    $("hide-self").addEventListener("click", () => {
      this.stage.setHideSelf(!this.stage.hideSelf);
      this.render();
    });
    $("data-saver").addEventListener("click", () => this.setDataSaver(!this.dataSaver));
    $("copy-invite").addEventListener("click", async () => {
      await navigator.clipboard.writeText(this.inviteLink).catch(() => {});
      this.toast(t("invite.copied"));
    });
    bindLanguageSelect($("room-language"), () => {
      for (const option of sizes.options) option.textContent = t("view.per_page", { count: option.value });
      this.render();
    });
    $("sec-lock").addEventListener("change", (event) =>
      this.request("lock", { locked: event.target.checked }).catch(() => this.renderSecurity()),
    );
    for (const input of document.querySelectorAll("#security-panel [data-setting]")) {
      input.addEventListener("change", () => {
        const name = input.dataset.setting;
        const value = name === "screen_share" ? (input.checked ? "everyone" : "hosts") : input.checked;
        this.request("settings", { settings: { [name]: value } }).catch(() => this.renderSecurity());
      });
    }
    $("suspend").addEventListener("click", () => {
      if (window.confirm(t("security.suspend_confirm"))) this.request("suspend").catch(() => {});
    });
    document.addEventListener("keydown", (event) => this.shortcut(event));
  }

  // Alt+A microphone, Alt+V camera, Alt+S share, Alt+H chat, Alt+Y hand, Alt+P participants,
  // Alt+Q leave (as the tooltips say).
  shortcut(event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const actions = {
      // Focus stays where it was, so nothing else would say what the shortcut did.
      KeyA: () => this.setMic(!this.micOn).then(() => announce(t(this.micOn ? "announce.mic_on" : "announce.mic_off"))),
      KeyV: () => this.setCam(!this.camOn).then(() => announce(t(this.camOn ? "announce.camera_on" : "announce.camera_off"))),
      KeyS: () => this.toggleShare(),
      KeyH: () => this.togglePanel("chat"),
      KeyY: () => this.toggleHand(),
      KeyP: () => this.togglePanel("people"),
      KeyQ: () => this.leave(),
    };
    const action = actions[event.code];
    if (action) {
      event.preventDefault();
      action();
    }
  }

  async leave() {
    try {
      await this.signaling.request("leave");
    } catch {
      // Already gone: nothing to tell the server.
    }
    this.close();
    this.onLeave("left");
  }

  close() {
    this.signaling.close();
    if (this.media) this.media.close();
    if (this.e2ee) this.e2ee.close();
    for (const track of this.localStream.getTracks()) track.stop();
    if (this.screenStream) for (const track of this.screenStream.getTracks()) track.stop();
  }

  // A message for a few seconds, or until removed (``sticky``); returns its element.
  // Every toast is also said through the live region (``urgent``: the assertive one).
  toast(text, { sticky = false, urgent = false } = {}) {
    announce(text, { urgent });
    const toast = document.createElement("div");
    toast.className = "toast";
    toast.textContent = text;
    $("toasts").append(toast);
    if (!sticky) setTimeout(() => toast.remove(), 5000);
    return toast;
  }
}
