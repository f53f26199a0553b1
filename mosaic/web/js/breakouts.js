// Breakout rooms (docs/protocol.md, "Breakout rooms"): the host's panel (create, name, assign by
// menu or by drag, open with a timer, extend, broadcast, visit, close) and everyone's bar (which
// room I am in, the countdown, the one-minute warning, ask for help, return, choose a room).
// The server's `breakouts` event carries the whole state as this person may see it, so every
// change is one render from that state; nothing here decides who may do what.
import { announce } from "./announcer.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const LIVE = new Set(["open", "closing"]);
const EXTEND_MINUTES = 5;

function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function button(label, className, onClick) {
  const node = element("button", `button small ${className}`, label);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// "4:05" for 245 seconds; never negative (the server closes the rooms, not this clock).
export function clock(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

export class Breakouts {
  constructor(room, initial = null) {
    this.room = room;
    this.state = { state: "none", rooms: [], assignments: {} };
    this.myRoom = null; // the room the server says we are in (null: the main room)
    this.warned = false;
    this.ticker = null;
    this.helpRequests = [];
    const signaling = room.signaling;
    signaling.on("breakouts", (event) => this.apply(event));
    signaling.on("broadcast", (event) => this.broadcastReceived(event));
    signaling.on("help_requested", (event) => this.helpRequested(event));
    signaling.on("resumed", (result) => {
      if (result.breakouts) this.apply(result.breakouts);
    });
    this.bind();
    // The join (or admitted) reply carries the rooms as they are; the room renders them itself.
    if (initial) this.apply(initial, { quiet: true });
  }

  live() {
    return LIVE.has(this.state.state);
  }

  roomName(id) {
    const found = (this.state.rooms || []).find((r) => r.id === id);
    return found ? found.name : t("breakouts.main_room");
  }

  // Where a participant is: the server's assignment (rooms carry their members too).
  roomOf(participantId) {
    const assignments = this.state.assignments || {};
    if (participantId in assignments) return assignments[participantId];
    for (const r of this.state.rooms || []) if ((r.participants || []).includes(participantId)) return r.id;
    return null;
  }

  // Whether a person shares our room now (the stage shows only them while rooms are open).
  sharesMyRoom(participantId) {
    if (!this.live() || participantId === this.room.selfId) return true;
    return this.roomOf(participantId) === this.myRoom;
  }

  // -- state from the server --------------------------------------------------------------

  apply(event, { quiet = false } = {}) {
    const { type, ...state } = event;
    const wasLive = this.live();
    const wasClosing = this.state.state === "closing";
    const wasIn = this.myRoom;
    this.state = { rooms: [], assignments: {}, ...state };
    const mine = "room" in state ? state.room : this.roomOf(this.room.selfId);
    this.myRoom = this.live() ? mine || null : null;
    // The server's clock says when rooms close; ours may differ from it by a little.
    this.skew = typeof state.now === "number" ? state.now - Date.now() / 1000 : 0;
    if (quiet) {
      // Entering the meeting: the room's own render says nothing of rooms already open.
    } else if (this.myRoom !== wasIn) {
      announce(
        this.myRoom
          ? t("breakouts.announce_moved", { room: this.roomName(this.myRoom) })
          : t("breakouts.announce_back"),
      );
    } else if (wasLive && !this.live()) {
      announce(t("breakouts.announce_closed"));
    }
    if (this.state.state === "closing" && !wasClosing && !this.warned) {
      this.warned = true;
      this.room.toast(t("breakouts.closing_soon"));
    }
    if (!this.live()) {
      this.warned = false;
      this.helpRequests = [];
    }
    this.schedule();
    if (!quiet) this.room.render();
  }

  async broadcastReceived(event) {
    const sender = this.room.participants.get(event.from);
    const name = event.name || (sender ? sender.name : event.from || "");
    // In an encrypted meeting the word to the rooms is chat ciphertext, opened here.
    let text = event.text;
    if (this.room.e2ee) {
      const opened = text.startsWith("e2ee:") ? await this.room.e2ee.decryptChat(text, event.from) : null;
      text = opened === null ? t("e2ee.chat_unreadable") : opened;
    }
    // A broadcast stays until read (a host's word to every room): a sticky toast, also said.
    const toast = this.room.toast(t("breakouts.broadcast_from", { name, text }), { sticky: true });
    toast.classList.add("broadcast");
    setTimeout(() => toast.remove(), 15000);
  }

  helpRequested(event) {
    const person = this.room.participants.get(event.participant_id);
    const name = event.name || (person ? person.name : "?");
    this.helpRequests = [
      ...this.helpRequests.filter((h) => h.participant_id !== event.participant_id),
      { participant_id: event.participant_id, room_id: event.room_id, name },
    ];
    this.room.toast(t("breakouts.help_from", { name, room: this.roomName(event.room_id) }));
    this.room.render();
  }

  secondsLeft() {
    const ends = this.state.ends_at;
    if (typeof ends !== "number") return null;
    return ends - (Date.now() / 1000 + (this.skew || 0));
  }

  // One tick a second while a countdown runs; only the countdown's text changes.
  schedule() {
    clearInterval(this.ticker);
    this.ticker = null;
    if (this.live() && typeof this.state.ends_at === "number") {
      this.ticker = setInterval(() => this.renderCountdown(), 1000);
    }
  }

  // -- requests --------------------------------------------------------------------------

  request(type, fields = {}) {
    return this.room.request(type, fields).catch(() => {});
  }

  assign(participantId, roomId) {
    return this.request("breakouts.assign", { assignments: { [participantId]: roomId || null } });
  }

  bind() {
    // The Breakout button opens its panel like the others (Room.bindControls, PANELS).
    $("bo-create").addEventListener("click", () => {
      const count = Math.min(50, Math.max(1, Number($("bo-count").value) || 1));
      const rooms = Array.from({ length: count }, (_, i) => ({ name: t("breakouts.room_n", { n: i + 1 }) }));
      this.request("breakouts.create", { rooms, mode: $("bo-mode").value });
    });
    $("bo-auto-assign").addEventListener("click", () =>
      this.request("breakouts.assign", { auto: $("bo-auto").value }),
    );
    $("bo-open").addEventListener("click", () => {
      // The timer is typed in minutes, fractions allowed (0.5: thirty seconds); it goes as seconds.
      const minutes = Number($("bo-minutes").value.trim() || "0");
      const timer = minutes > 0 ? { seconds: Math.max(10, Math.round(minutes * 60)) } : {};
      this.request("breakouts.open", {
        ...timer,
        allow_return: $("bo-allow-return").checked,
        late_joiners: $("bo-late").value,
      });
    });
    $("bo-extend").addEventListener("click", () => this.request("breakouts.extend", { minutes: EXTEND_MINUTES }));
    $("bo-broadcast-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("bo-broadcast-text").value.trim();
      if (!text) return;
      try {
        const wire = this.room.e2ee ? await this.room.e2ee.encryptChat(text) : text;
        await this.room.request("breakouts.broadcast", { text: wire });
        $("bo-broadcast-text").value = "";
        announce(t("breakouts.broadcast_sent"));
      } catch {
        // The room showed why.
      }
    });
    $("bo-close").addEventListener("click", () => this.request("breakouts.close"));
    $("bo-help").addEventListener("click", async () => {
      try {
        await this.room.request("breakouts.help");
        this.room.toast(t("breakouts.help_sent"));
      } catch {
        // The room showed why.
      }
    });
    $("bo-return").addEventListener("click", () => this.request("breakouts.move", { room_id: null }));
    $("bo-join").addEventListener("click", () => {
      const id = $("bo-choose").value;
      if (id) this.request("breakouts.move", { room_id: id });
    });
  }

  // -- rendering -------------------------------------------------------------------------

  render() {
    const host = this.room.isHost();
    $("breakouts").hidden = !host;
    if (!host && !$("breakouts-panel").hidden) this.room.togglePanel("breakouts");
    this.renderBar();
    if (host) this.renderPanel();
  }

  renderCountdown() {
    const left = this.secondsLeft();
    const text = left === null ? "" : t("breakouts.closes_in", { time: clock(left) });
    for (const id of ["bo-countdown", "bo-panel-countdown"]) {
      $(id).hidden = left === null;
      $(id).textContent = text;
    }
  }

  // Everyone's bar: shown while rooms are open, for whoever is in one or may choose one.
  renderBar() {
    const bar = $("breakout-bar");
    const hadFocus = bar.contains(document.activeElement);
    const state = this.state;
    const host = this.room.isHost();
    const inRoom = this.myRoom !== null;
    const mayChoose = this.live() && !inRoom && Boolean(state.may_choose) && !host;
    bar.hidden = !this.live() || (!inRoom && !mayChoose);
    $("bo-where").textContent = inRoom
      ? t(host ? "breakouts.visiting" : "breakouts.you_are_in", { room: this.roomName(this.myRoom) })
      : t("breakouts.choose_prompt");
    $("bo-warning").hidden = state.state !== "closing";
    $("bo-help").hidden = !inRoom || host;
    $("bo-return").hidden = !inRoom || !(host || state.may_return || state.allow_return);
    $("bo-chooser").hidden = !mayChoose;
    if (mayChoose) this.fillRoomSelect($("bo-choose"), false);
    this.renderCountdown();
    const active = document.activeElement;
    if (hadFocus && (!bar.contains(active) || active.closest("[hidden]"))) {
      const next = [...bar.querySelectorAll("button, select")].find((b) => !b.closest("[hidden]"));
      (next || $(host ? "breakouts" : "mic")).focus();
    }
  }

  fillRoomSelect(select, withMain) {
    const current = select.value;
    const options = (withMain ? [["", t("breakouts.main_room")]] : []).concat(
      (this.state.rooms || []).map((r) => [r.id, r.name]),
    );
    select.replaceChildren(
      ...options.map(([value, label]) => {
        const option = element("option", "", label);
        option.value = value;
        return option;
      }),
    );
    if (options.some(([value]) => value === current)) select.value = current;
  }

  renderPanel() {
    const panel = $("breakouts-panel");
    const hadFocus = !panel.hidden && panel.contains(document.activeElement);
    const state = this.state;
    const hasRooms = (state.rooms || []).length > 0 && state.state !== "closed" && state.state !== "none";
    const live = this.live();
    $("bo-setup").hidden = hasRooms;
    $("bo-manage").hidden = !hasRooms;
    $("bo-draft").hidden = !hasRooms || live;
    $("bo-live").hidden = !live;
    $("bo-panel-status").textContent = live
      ? t(state.state === "closing" ? "breakouts.status_closing" : "breakouts.status_open")
      : t("breakouts.status_draft");
    $("bo-help-section").hidden = !live || this.helpRequests.length === 0;
    $("bo-help-list").replaceChildren(
      ...this.helpRequests.map((h) => {
        const row = element("li", "person");
        row.append(element("span", "person-name", t("breakouts.help_from", { name: h.name, room: this.roomName(h.room_id) })));
        row.append(
          button(t("breakouts.visit"), "subtle", () => {
            this.helpRequests = this.helpRequests.filter((other) => other !== h);
            this.request("breakouts.move", { room_id: h.room_id });
          }),
        );
        return row;
      }),
    );
    if (hasRooms) this.renderRooms();
    // The button just used may be gone (Create, Open, Close all): focus goes to the panel's
    // heading, never to <body>.
    const active = document.activeElement;
    if (hadFocus && (!panel.contains(active) || active.closest("[hidden]"))) panel.querySelector("h2").focus();
  }

  // The rooms and who is in each, rebuilt from the state; focus (and a name being typed)
  // survives the rebuild, found again by the element's key.
  renderRooms() {
    const list = $("bo-room-list");
    const active = document.activeElement;
    const focusKey = list.contains(active) ? active.dataset.key : null;
    const typing = focusKey && active.tagName === "INPUT" ? active.value : null;
    const people = [...this.room.participants.values()];
    const groups = [{ id: null, name: t("breakouts.main_room") }, ...(this.state.rooms || [])];
    // Unchanged rooms are not rebuilt: a menu being opened or a name being typed stays as is.
    const signature = JSON.stringify([
      this.live(),
      groups,
      people.map((p) => [p.id, p.name, this.roomOf(p.id)]),
      this.state.cohosts || {},
      this.room.isHost(),
      t("breakouts.main_room"),
    ]);
    if (signature === this.drawn && list.children.length) return;
    this.drawn = signature;
    list.replaceChildren(...groups.map((group, index) => this.roomRow(group, index, people)));
    if (focusKey) {
      const again = list.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) {
        if (typing !== null) again.value = typing;
        again.focus();
      } else {
        $("breakouts-panel").querySelector("h2").focus();
      }
    }
  }

  roomRow(group, index, people) {
    const row = element("li", "bo-room");
    row.dataset.roomId = group.id || "";
    const head = element("div", "bo-room-head");
    if (group.id) {
      const name = element("input", "bo-room-name");
      name.value = group.name;
      name.maxLength = 64;
      name.dataset.key = `name:${group.id}`;
      name.setAttribute("aria-label", t("breakouts.room_name_label", { n: index }));
      name.addEventListener("change", () => {
        const value = name.value.trim();
        if (value && value !== group.name) this.request("breakouts.rename", { room_id: group.id, name: value });
      });
      head.append(name);
      if (this.live()) {
        const visit = button(t("breakouts.visit"), "subtle bo-visit", () =>
          this.request("breakouts.move", { room_id: group.id }),
        );
        visit.dataset.key = `visit:${group.id}`;
        visit.setAttribute("aria-label", t("breakouts.visit_room", { room: group.name }));
        head.append(visit);
      }
    } else {
      head.append(element("h3", "bo-main-title", group.name));
    }
    const members = element("ul", "people-list bo-members");
    members.setAttribute("aria-label", t("breakouts.members_of", { room: group.name }));
    for (const person of people) {
      if (this.roomOf(person.id) === group.id) members.append(this.personRow(person));
    }
    if (!members.children.length) members.append(element("li", "hint bo-empty", t("breakouts.empty")));
    // A drop zone: a person dragged here is assigned here (the menu does the same by keyboard).
    row.addEventListener("dragover", (event) => {
      event.preventDefault();
      row.classList.add("drop-target");
    });
    row.addEventListener("dragleave", () => row.classList.remove("drop-target"));
    row.addEventListener("drop", (event) => {
      event.preventDefault();
      row.classList.remove("drop-target");
      const id = event.dataTransfer.getData("text/plain");
      if (id && this.room.participants.has(id) && this.roomOf(id) !== group.id) this.assign(id, group.id);
    });
    row.append(head, members);
    return row;
  }

  personRow(person) {
    const row = element("li", "person bo-person");
    row.dataset.participantId = person.id;
    row.draggable = true;
    row.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", person.id);
      event.dataTransfer.effectAllowed = "move";
    });
    const self = person.id === this.room.selfId;
    row.append(element("span", "person-name", self ? t("people.you", { name: person.name }) : person.name));
    const select = element("select", "compact-select bo-assign");
    select.dataset.key = `assign:${person.id}`;
    select.setAttribute("aria-label", t("breakouts.assign_label", { name: person.name }));
    this.fillRoomSelect(select, true);
    select.value = this.roomOf(person.id) || "";
    select.addEventListener("change", () => this.assign(person.id, select.value || null));
    row.append(select);
    // The host may make someone co-host of the room they are in (their role elsewhere stays).
    const room = this.roomOf(person.id);
    if (room && !self && this.room.isHost() && person.role === "participant") {
      const cohost = (this.state.cohosts || {})[person.id] === room;
      const toggle = button(t("breakouts.room_cohost"), "subtle bo-cohost", () =>
        this.request("breakouts.cohost", { participant: person.id, room_id: cohost ? null : room }),
      );
      toggle.dataset.key = `cohost:${person.id}`;
      toggle.setAttribute("aria-pressed", String(cohost));
      toggle.setAttribute("aria-label", t("breakouts.room_cohost_of", { name: person.name }));
      row.append(toggle);
    }
    return row;
  }
}
