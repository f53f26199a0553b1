// The signaling connection (protocol mosaic.v1, docs/protocol.md): requests get a promise of
// their reply; pushed events are dispatched by type.
export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Signaling {
  constructor(url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.socket = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, "mosaic.v1");
      this.socket = socket;
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new SignalingError("network", "connection failed")), { once: true });
      socket.addEventListener("message", (event) => this.receive(event.data));
      socket.addEventListener("close", (event) => {
        for (const { reject: fail } of this.pending.values()) fail(new SignalingError("closed", "connection closed"));
        this.pending.clear();
        this.emit("close", { code: event.code, reason: event.reason });
      });
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if ((message.type === "reply" || message.type === "error") && this.pending.has(message.id)) {
      const { resolve, reject } = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.type === "reply") resolve(message.result);
      else reject(new SignalingError(message.code, message.message));
      return;
    }
    this.emit(message.type, message);
  }

  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new SignalingError("closed", "not connected"));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, type, ...fields }));
    });
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
  }

  emit(type, message) {
    for (const handler of this.handlers.get(type) || []) {
      try {
        handler(message);
      } catch (error) {
        console.error(`handler for ${type} failed`, error);
      }
    }
  }

  close() {
    if (this.socket) this.socket.close(1000, "bye");
  }
}
