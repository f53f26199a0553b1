// The stage: the gallery of faces (pages of up to 49), speaker view, and a shared screen.
// Only what is on screen is asked of the server (see reportView).
import { t } from "./i18n.js";
import { bestGrid, featured, paginate } from "./layout.js";

const $ = (id) => document.getElementById(id);
const STRIP_TILE_WIDTH = 192;
const GAP = 8;
// Signal bars per connection quality (the words go to screen readers as the mark's label).
const QUALITY_BARS = { good: "▂▄▆", fair: "▂▄", poor: "▂" };
// Data saver caps what this browser receives (kbit/s), sent with each view.
export const DATA_SAVER_KBPS = 300;

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// Puts `wanted` in `parent` in order, moving as few nodes as it can: a <video> taken out of
// the document pauses, so tiles that stay must not be re-inserted. Moved videos play again.
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

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Stage {
  constructor(room) {
    this.room = room;
    this.tiles = new Map(); // key "id" or "id:screen" -> tile
    this.speaking = new Set();
    this.page = 0;
    this.pageSize = Number(localStorage.getItem("mosaic.pageSize")) || 16;
    this.layout = localStorage.getItem("mosaic.layout") === "speaker" ? "speaker" : "gallery";
    this.hideSelf = localStorage.getItem("mosaic.hideSelf") === "true";
    this.pinned = null;
    this.visible = [];
    this.resizeObserver = new ResizeObserver(() => this.render());
    this.resizeObserver.observe($("stage"));
    $("page-prev").addEventListener("click", () => this.turn(-1));
    $("page-next").addEventListener("click", () => this.turn(1));
  }

  turn(step) {
    this.page += step;
    this.render();
  }

  setPageSize(size) {
    this.pageSize = size;
    localStorage.setItem("mosaic.pageSize", String(size));
    this.page = 0;
    this.render();
  }

  setLayout(layout) {
    this.layout = layout;
    localStorage.setItem("mosaic.layout", layout);
    this.render();
  }

  setHideSelf(hide) {
    this.hideSelf = hide;
    localStorage.setItem("mosaic.hideSelf", String(hide));
    this.render();
  }

  pin(id) {
    this.pinned = this.pinned === id ? null : id;
    if (this.pinned && this.layout === "gallery") this.layout = "speaker";
    this.render();
  }

  setSpeaking(ids) {
    this.speaking = new Set(ids);
    for (const [key, tile] of this.tiles) tile.classList.toggle("speaking", this.speaking.has(key));
    this.renderSpeaker();
  }

  // Who speaks now, named in words above the stage and on their tile, so that a lip-reader
  // finds the face to watch (a green border alone is easy to miss and says no name). The
  // dominant speaker if they are still speaking, else anyone who is; nobody: no caption.
  renderSpeaker() {
    const room = this.room;
    const dominant = room.dominantSpeaker;
    const id = dominant && this.speaking.has(dominant) ? dominant : [...this.speaking][0];
    const person = id ? room.participants.get(id) : null;
    const caption = $("speaker-caption");
    const name = person && (person.id === room.selfId ? t("people.you", { name: person.name }) : person.name);
    caption.hidden = !person;
    caption.textContent = person ? t("speaker.now", { name }) : "";
    for (const [key, tile] of this.tiles) tile.classList.toggle("dominant", Boolean(person) && key === person.id);
  }

  showReaction(id, emoji) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const bubble = element("div", "reaction", emoji);
    bubble.setAttribute("role", "img");
    bubble.setAttribute("aria-label", t("reactions.from", { name: tile.dataset.name || "" }));
    tile.append(bubble);
    setTimeout(() => bubble.remove(), 4000);
  }

  // -- tiles -------------------------------------------------------------------------------

  tileFor(person, source = "camera") {
    const key = source === "screen" ? `${person.id}:screen` : person.id;
    let tile = this.tiles.get(key);
    const self = person.id === this.room.selfId;
    if (!tile) {
      tile = element("div", source === "screen" ? "tile screen" : "tile");
      tile.dataset.participantId = person.id;
      tile.dataset.source = source;
      const video = document.createElement("video");
      video.autoplay = true;
      video.muted = true;
      video.playsInline = true;
      const label = element("div", "tile-name");
      const marks = element("div", "tile-marks");
      tile.append(element("div", "avatar"), video, label, marks);
      if (source === "camera") {
        const pin = element("button", "tile-pin");
        pin.type = "button";
        pin.addEventListener("click", () => this.pin(person.id));
        tile.append(pin);
      }
      if (self && source === "camera") {
        video.classList.add("mirrored");
        video.srcObject = this.room.localStream;
        tile.classList.add("self");
      }
      this.tiles.set(key, tile);
    }
    tile.dataset.name = person.name;
    const name = self ? t("people.you", { name: person.name }) : person.name;
    const label = tile.querySelector(".tile-name");
    label.textContent = source === "screen" ? t("share.of", { name: person.name }) : name;
    // Who really hosts, whatever names people chose (the server refuses a host's name too).
    if (source === "camera" && person.role && person.role !== "participant") {
      label.append(element("span", "role-badge", t(`role.${person.role}`)));
    }
    tile.querySelector(".avatar").textContent = initials(person.name);
    const pin = tile.querySelector(".tile-pin");
    if (pin) {
      const label = t(this.pinned === person.id ? "tile.unpin" : "tile.pin", { name: person.name });
      pin.setAttribute("aria-label", label);
      pin.title = label;
      pin.textContent = "📌";
      pin.setAttribute("aria-pressed", String(this.pinned === person.id));
    }
    const marks = [];
    if (source === "camera" && !person.audio) marks.push(["muted-mark", t("people.mic_off"), "🔇"]);
    if (source === "camera" && person.hand) marks.push(["hand-mark", t("hand.raised_by", { name: person.name }), "✋"]);
    if ((this.room.meeting.spotlight || []).includes(person.id) && source === "camera") {
      marks.push(["spot-mark", t("tile.spotlighted"), "★"]);
    }
    // Connection quality as the server judges it (its estimate of the person's links): bars for
    // the eye, words for a screen reader; an uplink that cannot carry even the smallest layer
    // gets a mark of its own, since everyone's picture of that person suffers.
    if (source === "camera" && QUALITY_BARS[person.quality]) {
      marks.push([`quality-mark quality-${person.quality}`, t(`quality.${person.quality}`, { name: person.name }), QUALITY_BARS[person.quality]]);
    }
    // End-to-end encryption: frames of theirs reach us and none decrypts (their key or ours is
    // wrong): a mark, never a black tile without a word.
    if (!self && this.room.e2ee && this.room.e2ee.undecodable(person.id) && source === "camera") {
      marks.push(["e2ee-fail-mark", t("e2ee.cannot_decrypt", { name: person.name }), "🔒"]);
    }
    if (source === "camera" && person.uplink_unstable && !self) {
      marks.push(["unstable-mark", t("quality.unstable_other", { name: person.name }), "⚠"]);
    }
    tile.querySelector(".tile-marks").replaceChildren(
      ...marks.map(([className, label, symbol]) => {
        const mark = element("span", className, symbol);
        mark.setAttribute("role", "img");
        mark.setAttribute("aria-label", label);
        return mark;
      }),
    );
    tile.classList.toggle("muted", source === "camera" && !person.audio);
    tile.classList.toggle("speaking", source === "camera" && this.speaking.has(person.id));
    if (!(self && source === "camera")) this.attachVideo(tile, person, source);
    const hasVideo =
      self && source === "camera"
        ? this.room.camOn
        : Boolean(tile.querySelector("video").srcObject) && (source === "screen" ? person.screen : person.video);
    // The server stopped sending this video to us (our downlink cannot carry it): the avatar
    // and a written mark instead of a frozen picture.
    const paused = !self && hasVideo && this.room.pausedVideos.has(`${person.id}:${source}`);
    tile.classList.toggle("video-off", !hasVideo || paused);
    tile.classList.toggle("video-paused", paused);
    let note = tile.querySelector(".paused-note");
    if (paused && !note) {
      note = element("div", "paused-note");
      tile.append(note);
    }
    if (note) {
      note.hidden = !paused;
      note.textContent = t("quality.paused");
    }
    return tile;
  }

  attachVideo(tile, person, source) {
    const video = tile.querySelector("video");
    const wanted = source === "screen" ? person.screen : person.video;
    const track = wanted && this.room.media ? this.room.media.trackOf(person.id, source) : null;
    const current = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    if (track === current) return;
    video.srcObject = track ? new MediaStream([track]) : null;
  }

  // -- layout ----------------------------------------------------------------------------

  render() {
    const room = this.room;
    // While breakout rooms are open, the stage shows the people of our room only.
    const people = [...room.participants.values()].filter((p) => !room.breakouts || room.breakouts.sharesMyRoom(p.id));
    const ids = new Set(people.map((p) => p.id));
    for (const key of [...this.tiles.keys()]) {
      const id = key.split(":")[0];
      const person = room.participants.get(id);
      if (!ids.has(id) || (key.endsWith(":screen") && !person.screen)) this.tiles.delete(key);
    }
    if (this.pinned && !ids.has(this.pinned)) this.pinned = null;
    const sharer = people.find((p) => p.screen && p.id !== room.selfId) || people.find((p) => p.screen);
    // Self-view first (as people expect to find themselves), then everyone in join order.
    const shown = people
      .filter((p) => !(this.hideSelf && p.id === room.selfId))
      .sort((a, b) => (b.id === room.selfId) - (a.id === room.selfId));
    const spotlight = room.meeting.spotlight || [];
    const speakerMode = this.layout === "speaker" || spotlight.length > 0 || Boolean(sharer);
    const stage = $("stage");
    stage.classList.toggle("speaker-layout", speakerMode);
    const width = stage.clientWidth - 2 * GAP;
    const height = stage.clientHeight - 2 * GAP - (this.pages > 1 ? 40 : 0);

    let featuredTiles = [];
    let stripPeople = shown;
    if (sharer) {
      featuredTiles = [this.tileFor(sharer, "screen")];
    } else if (speakerMode) {
      const others = shown.filter((p) => p.id !== room.selfId).map((p) => p.id);
      const big = featured({
        spotlight,
        pinned: this.pinned,
        speaker: room.dominantSpeaker,
        others: others.length ? others : shown.map((p) => p.id),
      });
      featuredTiles = big.map((id) => this.tileFor(room.participants.get(id)));
      stripPeople = shown.filter((p) => !big.includes(p.id));
    }
    $("featured").hidden = featuredTiles.length === 0;
    placeChildren($("featured"), featuredTiles);

    let size;
    if (speakerMode) {
      size = Math.max(1, Math.floor((width + GAP) / (STRIP_TILE_WIDTH + GAP)));
    } else {
      size = this.pageSize;
    }
    const paged = paginate(stripPeople, size, this.page);
    this.page = paged.page;
    this.pages = paged.pages;
    const tiles = paged.items.map((p) => this.tileFor(p));
    placeChildren($("gallery"), tiles);
    $("pager").hidden = paged.pages <= 1;
    $("page-label").textContent = t("pager.label", { page: paged.page + 1, pages: paged.pages });
    $("page-prev").disabled = paged.page === 0;
    $("page-next").disabled = paged.page >= paged.pages - 1;

    const gallery = $("gallery");
    if (speakerMode) {
      gallery.style.gridTemplateColumns = `repeat(${tiles.length || 1}, ${STRIP_TILE_WIDTH}px)`;
      for (const tile of tiles) tile.style.width = `${STRIP_TILE_WIDTH}px`;
      const featuredHeight = height - STRIP_TILE_WIDTH * (9 / 16) - GAP * 2;
      const grid = bestGrid(featuredTiles.length, width, Math.max(120, featuredHeight));
      for (const tile of featuredTiles) tile.style.width = `${grid.tileWidth}px`;
    } else {
      const grid = bestGrid(tiles.length, width, height);
      gallery.style.gridTemplateColumns = `repeat(${grid.cols}, ${grid.tileWidth}px)`;
      for (const tile of tiles) tile.style.width = `${grid.tileWidth}px`;
    }
    this.visible = [...featuredTiles, ...tiles];
    // Only the tiles on screen are kept: at 1,000 people, paging through would otherwise leave
    // a detached tile (and its <video>) per person ever shown. A tile shown again is rebuilt.
    const onScreen = new Set(this.visible);
    for (const [key, tile] of this.tiles) if (!onScreen.has(tile)) this.tiles.delete(key);
    this.renderSpeaker();
    this.reportView();
  }

  // Tell the server which videos are on screen and how large, so it sends only those.
  reportView() {
    if (!this.room.media) return;
    const ratio = window.devicePixelRatio || 1;
    const videos = [];
    for (const tile of this.visible) {
      const id = tile.dataset.participantId;
      const source = tile.dataset.source;
      const person = this.room.participants.get(id);
      if (!person || id === this.room.selfId) continue;
      if (source === "camera" ? !person.video : !person.screen) continue;
      const width = tile.clientWidth || STRIP_TILE_WIDTH;
      videos.push({
        participant: id,
        source,
        width: Math.round(width * ratio),
        height: Math.round((width * 9) / 16 * ratio),
      });
    }
    this.room.media.setView(videos, this.room.dataSaver ? DATA_SAVER_KBPS : null);
  }
}
