// The signaling connection (protocol mosaic.v1, docs/protocol.md): requests get a promise of
// their reply; pushed events are dispatched by type. When the network drops the connection, or
// the server restarts (an upgrade), it comes back by itself with the resume token: the server
// keeps our place for a while, and a restarted server believes the token it signed. It keeps
// trying, with growing waits, until the server answers; only the server's word (removed, the
// meeting ended, nothing to resume) ends it. Nothing but join/resume is sent on a socket that
// has not (re-)joined.
export class SignalingError extends Error {
  constructor(code, message, reason = null) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

const HEARTBEAT_MS = 4000;
// Resume tokens live 5 minutes (mosaic/signaling/resume.py): trying longer is pointless.
const RECONNECT_FOR_MS = 5 * 60_000;
const RECONNECT_FIRST_WAIT_MS = 250;
const RECONNECT_MAX_WAIT_MS = 2000;
const CONNECT_TIMEOUT_MS = 2500;
// What may be sent before the socket has joined; the rest would earn "join a meeting first".
const ENTRY_REQUESTS = new Set(["join", "resume"]);
// Answers to resume that another try will not change.
const FINAL_REFUSALS = new Set(["unauthorized", "not_found", "forbidden", "bad_request"]);

export class Signaling {
  constructor(url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.socket = null;
    this.resumeToken = null;
    this.closing = false;
    this.heartbeat = null;
    this.joined = false; // the current socket has joined (or resumed) the meeting
    this.reconnecting = false;
  }

  connect(timeoutMs = CONNECT_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, "mosaic.v1");
      // A dead network may take a minute to refuse: give up sooner and try again.
      const timer = setTimeout(() => {
        socket.close();
        reject(new SignalingError("network", "connection timed out"));
      }, timeoutMs);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      }, { once: true });
      socket.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new SignalingError("network", "connection failed"));
      }, { once: true });
      socket.addEventListener("message", (event) => this.receive(event.data));
      socket.addEventListener("close", (event) => this.closed(socket, event));
    });
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.joined = false;
    // 4429: this address holds too many sockets already (the server's per-address cap).
    this.closedCode = event.code === 4429 ? "too_many_connections" : "closed";
    for (const { reject: fail } of this.pending.values()) fail(new SignalingError(this.closedCode, "connection closed"));
    this.pending.clear();
    clearInterval(this.heartbeat);
    if (this.reconnecting) return; // a try of the loop below failed: it carries on
    // The server ended it (removed, meeting over) or we are leaving: that is final.
    const final = this.closing || !this.resumeToken || event.code === 1008 || event.code === 4000 || event.code === 1000;
    if (final) {
      this.emit("close", { code: event.code, reason: event.reason });
    } else {
      this.reconnect();
    }
  }

  // Reconnect and resume, waiting longer after each failed try (with jitter, so that a
  // restarted server is not hit by every client at once).
  async reconnect() {
    this.reconnecting = true;
    this.emit("reconnecting", {});
    const deadline = Date.now() + RECONNECT_FOR_MS;
    let wait = RECONNECT_FIRST_WAIT_MS;
    let refusal = null;
    while (Date.now() + wait < deadline && !this.closing) {
      try {
        await this.connect();
        const result = await this.request("resume", { token: this.resumeToken });
        this.reconnecting = false;
        this.keepAlive();
        this.emit("resumed", result);
        return;
      } catch (error) {
        this.dropSocket();
        if (FINAL_REFUSALS.has(error.code)) {
          refusal = error;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, wait * (0.75 + Math.random() / 2)));
        wait = Math.min(wait * 2, RECONNECT_MAX_WAIT_MS);
      }
    }
    this.reconnecting = false;
    this.emit("close", { code: 1006, reason: refusal ? refusal.reason || refusal.code : "lost" });
  }

  // Close the current socket without starting to reconnect.
  dropSocket() {
    const socket = this.socket;
    if (!socket) return;
    this.closed(socket, { code: 1006, reason: "dropped" });
    try {
      socket.close(4001, "dropped");
    } catch {
      // Already closing.
    }
  }

  // A dead network gives no close event for a long time: a ping unanswered in time closes the
  // socket so that reconnecting starts.
  keepAlive() {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      const socket = this.socket;
      if (!socket) return;
      const timer = setTimeout(() => this.abandon(socket), HEARTBEAT_MS - 500);
      this.request("ping").then(() => clearTimeout(timer), () => clearTimeout(timer));
    }, HEARTBEAT_MS);
  }

  // Give up on a socket that stopped answering (its close event may take minutes to come).
  abandon(socket) {
    if (socket !== this.socket) return;
    try {
      socket.close(4001, "no answer");
    } catch {
      // Already closing.
    }
    this.closed(socket, { code: 1006, reason: "no answer" });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if ((message.type === "reply" || message.type === "error") && this.pending.has(message.id)) {
      const { resolve, reject, type } = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.type === "reply") {
        if (message.result && message.result.resume_token) this.resumeToken = message.result.resume_token;
        if (ENTRY_REQUESTS.has(type)) this.joined = true;
        resolve(message.result);
      } else {
        reject(new SignalingError(message.code, message.message, message.reason));
      }
      return;
    }
    if (message.resume_token) this.resumeToken = message.resume_token;
    this.emit(message.type, message);
  }

  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new SignalingError(this.closedCode || "closed", "not connected"));
        return;
      }
      if (!this.joined && !ENTRY_REQUESTS.has(type)) {
        reject(new SignalingError("reconnecting", "not in the meeting yet"));
        return;
      }
      this.pending.set(id, { resolve, reject, type });
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
    this.closing = true;
    clearInterval(this.heartbeat);
    if (this.socket) this.socket.close(1000, "bye");
  }
}
