// The participants panel: who is here, who waits, and (for hosts) what to do about them.
import { t } from "./i18n.js";

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
  }

  render() {
    const room = this.room;
    const people = [...room.participants.values()];
    $("people-count").textContent = String(people.length);
    $("people-list").replaceChildren(...people.map((p) => this.personRow(p)));
    const canManage = room.isHost();
    $("waiting-section").hidden = !canManage || room.waiting.length === 0;
    $("waiting-list").replaceChildren(...room.waiting.map((w) => this.waitingRow(w)));
    const badge = $("waiting-badge");
    badge.hidden = !canManage || room.waiting.length === 0;
    badge.textContent = String(room.waiting.length);
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
    return row;
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
