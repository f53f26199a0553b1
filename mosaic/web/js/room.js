// A meeting the user has entered: roster state from the server's events, and the room's UI.
import { t, translate } from "./i18n.js";
import { Media } from "./media.js";
import { PeoplePanel } from "./people.js";
import { Stage } from "./stage.js";

const $ = (id) => document.getElementById(id);

export class Room {
  constructor(signaling, joined, localStream, { micOn, camOn, onLeave }) {
    this.signaling = signaling;
    this.localStream = localStream;
    this.micOn = micOn;
    this.camOn = camOn;
    this.onLeave = onLeave;
    this.participants = new Map();
    this.waiting = [];
    this.people = new PeoplePanel(this);
    this.stage = new Stage(this);
    this.enter(joined);
    signaling.on("roster", (event) => this.applyRoster(event));
    signaling.on("waiting", (event) => {
      this.waiting = event.participants;
      this.render();
      if (this.waiting.length) this.toast(t("people.someone_waiting", { count: this.waiting.length }));
    });
    signaling.on("meeting", (event) => this.applyMeeting(event));
    signaling.on("speaking", (event) => this.stage.setSpeaking(event.participants));
    signaling.on("speaker", (event) => {
      this.dominantSpeaker = event.participant;
    });
    signaling.on("muted", (event) => this.mutedByHost(event));
    this.bindControls();
    this.startMedia(joined.ice_servers || []);
  }

  async startMedia(iceServers) {
    this.media = new Media(this.signaling, this.localStream, {
      iceServers,
      onSlots: () => this.render(),
      onTrack: (mid, track) => this.onRemoteTrack(mid, track),
    });
    // Say what we show before any media flows, so the first keyframe is the right size.
    this.stage.reportView();
    try {
      await this.media.publish();
      await this.signaling.request("media", { source: "microphone", on: this.micOn });
      await this.signaling.request("media", { source: "camera", on: this.camOn });
    } catch (error) {
      console.error("publishing failed", error);
      this.toast(t("error.media"));
    }
  }

  onRemoteTrack(mid, track) {
    if (track.kind === "audio") {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = mid;
      audio.srcObject = new MediaStream([track]);
      $("audio-sink").append(audio);
    }
    this.render();
  }

  mutedByHost(event) {
    if (event.source === "microphone") this.setMic(false, false);
    if (event.source === "camera") this.setCam(false, false);
    this.toast(t(`muted.${event.source}`, { name: event.by }));
  }

  enter(joined) {
    this.self = joined.self;
    this.selfId = joined.self.id;
    this.meeting = joined.meeting;
    this.participants = new Map(joined.participants.map((p) => [p.id, p]));
    this.waiting = joined.waiting || [];
    $("room").hidden = false;
    translate($("room"));
    this.render();
  }

  isHost() {
    const me = this.participants.get(this.selfId) || this.self;
    return me.role === "host" || me.role === "cohost";
  }

  applyRoster({ joined, updated, left }) {
    for (const person of [...joined, ...updated]) this.participants.set(person.id, person);
    for (const id of left) this.participants.delete(id);
    if (this.participants.has(this.selfId)) this.self = this.participants.get(this.selfId);
    this.render();
  }

  applyMeeting(meeting) {
    this.meeting = { ...this.meeting, ...meeting };
    this.render();
  }

  render() {
    $("topic").textContent = this.meeting.topic;
    document.title = `${this.meeting.topic} · ${t("app.name")}`;
    $("lock-badge").hidden = !this.meeting.locked;
    $("mic").setAttribute("aria-pressed", String(this.micOn));
    $("cam").setAttribute("aria-pressed", String(this.camOn));
    this.people.render();
    this.stage.render();
  }

  async request(type, fields = {}) {
    try {
      return await this.signaling.request(type, fields);
    } catch (error) {
      this.toast(t(`error.${error.code}`, { message: error.message }));
      throw error;
    }
  }

  togglePanel(name) {
    const panel = $(`${name}-panel`);
    const open = panel.hidden;
    for (const other of document.querySelectorAll(".panel")) other.hidden = true;
    panel.hidden = !open;
    $("side-panel").hidden = !open;
    $("people").setAttribute("aria-pressed", String(open && name === "people"));
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

  bindControls() {
    $("mic").addEventListener("click", () => this.setMic(!this.micOn));
    $("cam").addEventListener("click", () => this.setCam(!this.camOn));
    $("people").addEventListener("click", () => this.togglePanel("people"));
    for (const close of document.querySelectorAll(".close-panel")) {
      close.addEventListener("click", () => this.togglePanel(close.dataset.panel));
    }
    $("leave").addEventListener("click", () => this.leave());
    document.addEventListener("keydown", (event) => this.shortcut(event));
  }

  // Alt+A microphone, Alt+V camera, Alt+P participants, Alt+Q leave (as the tooltips say).
  shortcut(event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const actions = {
      KeyA: () => this.setMic(!this.micOn),
      KeyV: () => this.setCam(!this.camOn),
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
    this.signaling.close();
    if (this.media) this.media.close();
    for (const track of this.localStream.getTracks()) track.stop();
    this.onLeave("left");
  }

  toast(text) {
    const toast = document.createElement("div");
    toast.className = "toast";
    toast.textContent = text;
    $("toasts").append(toast);
    setTimeout(() => toast.remove(), 5000);
  }
}
