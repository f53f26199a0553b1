// The stage: one tile per participant, with their live video when the server sends it.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// Puts ``wanted`` in ``parent`` in order, moving as few nodes as it can: a <video> taken out of
// the document pauses, so tiles that stay must not be re-inserted. Videos that were moved
// anyway are played again.
export function placeChildren(parent, wanted) {
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, index) => {
    const current = parent.children[index];
    if (current !== node) parent.insertBefore(node, current || null);
  });
  for (const video of parent.querySelectorAll("video")) {
    if (video.srcObject && video.paused) video.play().catch(() => {});
  }
}

export class Stage {
  constructor(room) {
    this.room = room;
    this.tiles = new Map();
    this.speaking = new Set();
    this.resizeObserver = new ResizeObserver(() => this.reportView());
    this.resizeObserver.observe($("stage"));
  }

  tileFor(person) {
    let tile = this.tiles.get(person.id);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.participantId = person.id;
      const avatar = document.createElement("div");
      avatar.className = "avatar";
      const name = document.createElement("div");
      name.className = "tile-name";
      const video = document.createElement("video");
      video.autoplay = true;
      video.muted = true;
      video.playsInline = true;
      tile.append(avatar, video, name);
      if (person.id === this.room.selfId) {
        video.classList.add("mirrored");
        video.srcObject = this.room.localStream;
        tile.classList.add("self");
      }
      this.tiles.set(person.id, tile);
    }
    const self = person.id === this.room.selfId;
    tile.querySelector(".avatar").textContent = initials(person.name);
    tile.querySelector(".tile-name").textContent = self ? t("people.you", { name: person.name }) : person.name;
    tile.classList.toggle("muted", !person.audio);
    tile.classList.toggle("speaking", this.speaking.has(person.id));
    if (!self) this.attachVideo(tile, person);
    const hasVideo = self ? this.room.camOn : person.video && Boolean(tile.querySelector("video").srcObject);
    tile.classList.toggle("video-off", !hasVideo);
    return tile;
  }

  attachVideo(tile, person) {
    const video = tile.querySelector("video");
    const track = person.video && this.room.media ? this.room.media.trackOf(person.id, "camera") : null;
    const current = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    if (track === current) return;
    video.srcObject = track ? new MediaStream([track]) : null;
  }

  setSpeaking(ids) {
    this.speaking = new Set(ids);
    for (const [id, tile] of this.tiles) tile.classList.toggle("speaking", this.speaking.has(id));
  }

  render() {
    const people = [...this.room.participants.values()];
    for (const id of [...this.tiles.keys()]) {
      if (!this.room.participants.has(id)) this.tiles.delete(id);
    }
    placeChildren($("stage"), people.map((person) => this.tileFor(person)));
    this.reportView();
  }

  // Tell the server which videos are on screen and how large, so it sends only those.
  reportView() {
    if (!this.room.media) return;
    const ratio = window.devicePixelRatio || 1;
    const videos = [];
    for (const [id, tile] of this.tiles) {
      const person = this.room.participants.get(id);
      if (!person || id === this.room.selfId || !person.video || !tile.isConnected) continue;
      videos.push({
        participant: id,
        source: "camera",
        width: Math.round(tile.clientWidth * ratio),
        height: Math.round(tile.clientHeight * ratio),
      });
    }
    this.room.media.setView(videos);
  }
}
