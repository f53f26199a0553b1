// Chat: to everyone or privately to one person. Messages are text, never HTML. In an end-to-end
// encrypted meeting, what goes to the server is "e2ee:" ciphertext (e2ee.js), private chat too;
// a message in clear there is marked as such (the server could have written it).
import { language, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export class ChatPanel {
  constructor(room) {
    this.room = room;
    this.unread = 0;
    // Ids of the messages shown: a meeting that moved to a new server (a failover) gives
    // back what we were sent, some of which we have already.
    this.seen = new Set();
    room.signaling.on("chat", (message) => this.receive(message));
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("chat-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.send();
      }
    });
  }

  async send() {
    const input = $("chat-text");
    const text = input.value.trim();
    if (!text) return;
    const to = $("chat-to").value || null;
    let wire = text;
    if (this.room.e2ee) {
      try {
        wire = await this.room.e2ee.encryptChat(text);
      } catch {
        this.room.toast(t("e2ee.no_key_yet"));
        return;
      }
    }
    try {
      await this.room.request("chat", to ? { text: wire, to } : { text: wire });
      input.value = "";
    } catch {
      // The room showed why.
    }
  }

  // What the server gave back on our return (the resume reply's `chat`), oldest first.
  restore(messages) {
    for (const message of messages || []) this.receive(message);
  }

  receive(message) {
    if (message.id) {
      if (this.seen.has(message.id)) return;
      this.seen.add(message.id);
    }
    const item = document.createElement("li");
    item.className = message.to ? "chat-message private" : "chat-message";
    const head = document.createElement("div");
    head.className = "chat-head";
    const mine = message.from === this.room.selfId;
    const time = new Date(message.at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    let who = mine ? t("chat.you") : message.name;
    if (message.to) {
      const other = this.room.participants.get(mine ? message.to : message.from);
      who = mine
        ? t("chat.private_to", { name: other ? other.name : "?" })
        : t("chat.private_from", { name: message.name });
    }
    head.textContent = `${who} · ${time}`;
    const body = document.createElement("div");
    body.className = "chat-text";
    body.textContent = message.text; // text, never markup
    item.append(head, body);
    if (this.room.e2ee) this.decrypt(message, item, body);
    $("chat-log").append(item);
    item.scrollIntoView({ block: "end" });
    if ($("chat-panel").hidden && !mine) {
      this.unread += 1;
      this.renderBadge();
    }
  }

  // Fills in an encrypted message's text once opened, or says it could not be.
  decrypt(message, item, body) {
    const e2ee = this.room.e2ee;
    if (!message.text.startsWith("e2ee:")) {
      item.classList.add("chat-clear");
      const mark = document.createElement("div");
      mark.className = "chat-mark";
      mark.textContent = t("e2ee.chat_clear");
      item.append(mark);
      return;
    }
    body.textContent = "…";
    e2ee.decryptChat(message.text, message.from).then((text) => {
      item.classList.toggle("chat-unreadable", text === null);
      body.textContent = text === null ? t("e2ee.chat_unreadable") : text;
    });
  }

  opened() {
    this.unread = 0;
    this.renderBadge();
    $("chat-text").focus();
  }

  renderBadge() {
    const badge = $("chat-badge");
    badge.hidden = this.unread === 0;
    badge.textContent = String(this.unread);
  }

  render() {
    const room = this.room;
    const select = $("chat-to");
    const options = [["", t("chat.everyone")]];
    for (const person of room.participants.values()) {
      if (person.id !== room.selfId) options.push([person.id, person.name]);
    }
    // At 1,000 people the list is a thousand options: rebuilt only when someone came, went
    // or was renamed (or the language changed), not on every roster event.
    const key = `${language()}\u0000${options.map(([value, label]) => `${value}\u0001${label}`).join("\u0002")}`;
    if (key !== this.optionsKey) this.fillRecipients(select, options, key);
    this.renderClosed();
  }

  fillRecipients(select, options, key) {
    const current = select.value;
    this.optionsKey = key;
    select.replaceChildren(
      ...options.map(([value, label]) => {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = label;
        return option;
      }),
    );
    select.value = options.some(([value]) => value === current) ? current : "";
  }

  renderClosed() {
    const room = this.room;
    const allowed = room.isHost() || room.meeting.settings.participants_may_chat;
    $("chat-closed").hidden = allowed;
  }
}
