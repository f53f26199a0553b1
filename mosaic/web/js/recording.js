// The server's recording as people in the meeting see it: a Record button for those the
// meeting lets record (the host; co-hosts when the host allows it), a persistent indicator
// for everyone, and a notice for whoever enters while it runs, who chooses to stay or leave
// before their camera and microphone are sent (and so before anything of theirs is recorded).
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export class RecordingControl {
  constructor(room) {
    this.room = room;
    this.was = Boolean(room.meeting.recording);
    $("record").addEventListener("click", () => this.toggle());
  }

  // Whether this participant may start and stop the recording: the same rule as the server's
  // (permissions.py), used only to show the button; the server decides.
  mayRecord() {
    const me = this.room.me();
    if (me.role === "host") return true;
    return me.role === "cohost" && Boolean((this.room.meeting.settings || {}).cohosts_may_record);
  }

  async toggle() {
    const on = !this.room.meeting.recording;
    $("record").disabled = true;
    try {
      await this.room.request(on ? "recording.start" : "recording.stop");
    } catch {
      // Told by the room's request (a toast); the indicator keeps the server's word.
    } finally {
      $("record").disabled = false;
      this.render();
    }
  }

  // Resolves true to stay (at once if nothing is being recorded), false to leave.
  consent() {
    if (!this.room.meeting.recording) return Promise.resolve(true);
    const dialog = $("recording-notice");
    return new Promise((resolve) => {
      const choose = (stay) => {
        dialog.close();
        resolve(stay);
      };
      $("recording-stay").addEventListener("click", () => choose(true), { once: true });
      $("recording-leave").addEventListener("click", () => choose(false), { once: true });
      // Escape means neither: the question stays until it is answered.
      dialog.addEventListener("cancel", (event) => event.preventDefault());
      dialog.showModal();
      $("recording-stay").focus();
    });
  }

  render() {
    const recording = Boolean(this.room.meeting.recording);
    $("rec-badge").hidden = !recording;
    // Letting co-hosts record is the host's alone to give (co-hosts change the other settings).
    $("sec-record-switch").hidden = this.room.me().role !== "host";
    const button = $("record");
    button.hidden = !this.mayRecord();
    button.setAttribute("aria-pressed", String(recording));
    // The server could only store ciphertext: an encrypted meeting is not recorded, and the
    // button says so rather than vanish.
    const encrypted = Boolean((this.room.meeting.settings || {}).e2ee);
    button.disabled = encrypted && !recording;
    const label = encrypted && !recording ? t("e2ee.no_recording") : t(recording ? "recording.stop" : "recording.start");
    button.setAttribute("aria-label", label);
    button.title = label;
    if (recording !== this.was) {
      this.was = recording;
      // Seen and heard (the toast goes through the live region too): nobody misses it.
      this.room.toast(t(recording ? "recording.started" : "recording.stopped"), { urgent: recording });
    }
  }
}
