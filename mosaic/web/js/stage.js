// The stage: one tile per participant (the gallery grows from here).
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

export class Stage {
  constructor(room) {
    this.room = room;
    this.tiles = new Map();
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
      tile.append(avatar, name);
      if (person.id === this.room.selfId) {
        const video = document.createElement("video");
        video.className = "mirrored";
        video.autoplay = true;
        video.muted = true;
        video.playsInline = true;
        video.srcObject = this.room.localStream;
        tile.append(video);
        tile.classList.add("self");
      }
      this.tiles.set(person.id, tile);
    }
    const self = person.id === this.room.selfId;
    tile.querySelector(".avatar").textContent = initials(person.name);
    tile.querySelector(".tile-name").textContent = self ? t("people.you", { name: person.name }) : person.name;
    tile.classList.toggle("muted", !person.audio);
    tile.classList.toggle("video-off", self ? !this.room.camOn : !person.video);
    return tile;
  }

  render() {
    const people = [...this.room.participants.values()];
    for (const id of this.tiles.keys()) {
      if (!this.room.participants.has(id)) this.tiles.delete(id);
    }
    const stage = $("stage");
    stage.replaceChildren(...people.map((person) => this.tileFor(person)));
    stage.style.setProperty("--count", String(people.length));
  }
}
