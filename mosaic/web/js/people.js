// The participants panel: who is here, who waits, whose hand is up, and (for hosts) what to
// do about each of them.
import { language, t } from "./i18n.js";
import { VirtualList } from "./roster-list.js";

const $ = (id) => document.getElementById(id);

function button(label, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = `button small ${className}`;
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

export class PeoplePanel {
  constructor(room) {
    this.room = room;
    $("admit-all").addEventListener("click", () => room.request("admit", { all: true }));
    $("mute-all").addEventListener("click", () => room.request("mute_all"));
    // A row is rebuilt only when what it shows changed: the person (a new object per roster
    // update of theirs), or what we may do to them (our role, our pin).
    this.roster = new VirtualList($("people-list"), $("side-panel"), {
      render: (person) => this.personRow(person),
      version: (person) => {
        const me = room.participants.get(room.selfId) || room.self || {};
        const pinned = room.stage ? room.stage.pinned === person.id : false;
        const lit = (room.meeting.spotlight || []).includes(person.id);
        return [person, me.role, pinned, lit, room.selfId, language()];
      },
      label: (person) => person.name,
    });
    // A crowd in the waiting room (a thousand arriving for a town hall) is a long list too.
    this.waitingRows = new VirtualList($("waiting-list"), $("side-panel"), {
      render: (waiting) => this.waitingRow(waiting),
      version: (waiting) => [waiting.id, waiting.name, language()],
      label: (waiting) => waiting.name,
    });
    const search = $("people-search");
    search.addEventListener("input", () => this.roster.filter(search.value));
  }

  render() {
    const room = this.room;
    // A row that had focus (Admit, Lower hand) may be gone after this render: focus then goes
    // to the next one waiting, or to the panel's heading, never to <body>.
    const panel = $("people-panel");
    const focusInPanel = !panel.hidden && panel.contains(document.activeElement);
    const people = [...room.participants.values()];
    $("people-count").textContent = String(people.length);
    this.roster.update(people);
    const canManage = room.isHost();
    $("host-people-actions").hidden = !canManage;
    $("waiting-section").hidden = !canManage || room.waiting.length === 0;
    this.waitingRows.update(room.waiting);
    const badge = $("waiting-badge");
    badge.hidden = !canManage || room.waiting.length === 0;
    badge.textContent = String(room.waiting.length);
    // The badge is a number on the icon; the button's name says what it counts.
    $("people").setAttribute(
      "aria-label",
      badge.hidden ? t("controls.people") : t("controls.people_waiting", { count: room.waiting.length }),
    );
    // Raised hands, in the order they went up: few even at 1,000 people, so all of them are
    // listed (above the long list, where a host finds them without scrolling).
    const hands = people.filter((p) => p.hand).sort((a, b) => a.hand - b.hand);
    $("hands-section").hidden = hands.length === 0;
    $("hands-list").replaceChildren(
      ...hands.map((person) => {
        const row = document.createElement("li");
        row.className = "person";
        row.dataset.participantId = person.id;
        const name = document.createElement("span");
        name.className = "person-name";
        name.textContent = person.name;
        row.append(name);
        if (canManage && person.id !== room.selfId) {
          row.append(button(t("hand.lower"), "subtle", () => room.request("lower_hand", { participant: person.id })));
        }
        return row;
      }),
    );
    const active = document.activeElement;
    if (focusInPanel && (!panel.contains(active) || active.closest("[hidden]"))) {
      const next = $("waiting-section").hidden ? null : $("waiting-list").querySelector(".admit");
      (next || panel.querySelector("h2")).focus();
    }
  }

  personRow(person) {
    const room = this.room;
    const row = document.createElement("li");
    row.className = "person";
    row.dataset.participantId = person.id;
    const name = document.createElement("span");
    name.className = "person-name";
    name.textContent = person.id === room.selfId ? t("people.you", { name: person.name }) : person.name;
    row.append(name);
    if (person.hand) {
      const hand = document.createElement("span");
      hand.textContent = "✋";
      hand.setAttribute("role", "img");
      hand.setAttribute("aria-label", t("hand.raised_by", { name: person.name }));
      row.append(hand);
    }
    if (person.role !== "participant") {
      const role = document.createElement("span");
      role.className = "role-badge";
      role.textContent = t(`role.${person.role}`);
      row.append(role);
    }
    const state = document.createElement("span");
    state.className = `mic-state ${person.audio ? "on" : "off"}`;
    state.setAttribute("aria-label", t(person.audio ? "people.mic_on" : "people.mic_off"));
    state.setAttribute("role", "img");
    row.append(state);
    if (person.id !== room.selfId) row.append(this.actions(person));
    return row;
  }

  // A per-person menu: pin for anyone; mute, video, spotlight, co-host, remove for hosts.
  actions(person) {
    const room = this.room;
    const menu = document.createElement("details");
    menu.className = "person-menu";
    const summary = document.createElement("summary");
    summary.textContent = "⋯";
    summary.setAttribute("aria-label", t("people.actions_for", { name: person.name }));
    menu.append(summary);
    const list = document.createElement("div");
    list.className = "menu";
    const add = (key, className, action) => {
      list.append(
        button(t(key), className, async () => {
          menu.open = false;
          await action().catch(() => {});
        }),
      );
    };
    add(room.stage.pinned === person.id ? "people.unpin" : "people.pin", "subtle pin", async () => room.stage.pin(person.id));
    const me = room.participants.get(room.selfId) || room.self;
    const outranks = me.role === "host" || (me.role === "cohost" && person.role === "participant");
    if (room.isHost() && outranks) {
      if (person.audio) add("host.mute", "subtle mute", () => room.request("mute", { participant: person.id }));
      if (person.video) {
        add("host.stop_video", "subtle", () => room.request("mute", { participant: person.id, source: "camera" }));
      }
      if (person.screen) {
        add("host.stop_share", "subtle", () => room.request("mute", { participant: person.id, source: "screen" }));
      }
      const spotlight = room.meeting.spotlight || [];
      const lit = spotlight.includes(person.id);
      add(lit ? "host.unspotlight" : "host.spotlight", "subtle spotlight", () =>
        room.request("spotlight", {
          participants: lit ? spotlight.filter((id) => id !== person.id) : [person.id, ...spotlight].slice(0, 2),
        }),
      );
      if (me.role === "host") {
        const cohost = person.role === "cohost";
        add(cohost ? "host.remove_cohost" : "host.make_cohost", "subtle", () =>
          room.request("cohost", { participant: person.id, cohost: !cohost }),
        );
      }
      add("host.report", "subtle", async () => {
        const reason = window.prompt(t("host.report_reason", { name: person.name }));
        if (reason) await room.request("report", { participant: person.id, reason });
      });
      add("host.remove", "danger remove", () => room.request("remove", { participant: person.id }));
    }
    menu.append(list);
    return menu;
  }

  waitingRow(waiting) {
    const room = this.room;
    const row = document.createElement("li");
    row.className = "person waiting";
    row.dataset.participantId = waiting.id;
    const name = document.createElement("span");
    name.className = "person-name";
    name.textContent = waiting.name;
    row.append(
      name,
      button(t("people.admit"), "primary admit", () => room.request("admit", { participants: [waiting.id] })),
      button(t("people.deny"), "subtle deny", () => room.request("deny", { participants: [waiting.id] })),
    );
    return row;
  }
}
