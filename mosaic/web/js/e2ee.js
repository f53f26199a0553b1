// End-to-end encryption in the browser (docs/e2ee.md): the meeting's keys live here and in
// the media worker (e2ee-worker.js), never on the server. WebCrypto only.
//
// - The link secret L comes from the invite link's fragment (#k=…, 32 bytes base64url), which
//   browsers never send to a server. The first keyed participant starts epoch 0 with S0 = L.
// - Join: every keyed client ratchets S(n+1) = HKDF(S(n), "ratchet") when someone is admitted,
//   so a newcomer reads nothing from before it came. Up to three keyed participants (smallest
//   ids) hand the newcomer the current secret, wrapped with ECDH between ephemeral P-256 keys
//   (published with e2ee.hello) AND masked with HKDF(L, "link"): a client without the link's
//   key (or with a wrong one) cannot use what it is handed, whatever the server does.
// - Leave or removal: the key leader (smallest id with a published key) makes a fresh random
//   secret and wraps it to every remaining participant: whoever left reads nothing after.
// - Safety code: SHA-256("mosaic-safety-v1" || S || sorted "pid:e2ee_key" lines), read aloud to
//   compare; a public key substituted by the server gives different codes.
const enc = new TextEncoder();
const SALT = enc.encode("mosaic-e2ee-v1");
const HANDERS = 3; // participants who hand the key to each newcomer (more than one: races)
const FRESH_MS = 1500; // a hello this recent may still be waiting for its own key
const HELLO_RETRY_MS = 4000;
const HELLO_TRIES = 4;
const MAX_SECRETS = 8;
const WRONG_KEY_MS = 5000; // frames arriving this long, none decrypting: a wrong key

export function toBase64Url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// The link secret in "#k=…", or null (absent or not 32 bytes).
export function linkSecretOf(text) {
  if (!text || !/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  try {
    const bytes = fromBase64Url(text);
    return bytes.length === 32 ? bytes : null;
  } catch {
    return null;
  }
}

export function newLinkSecret() {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

async function hkdf(secret, info, bytes = 32) {
  const base = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: SALT, info: enc.encode(info) }, base, bytes * 8);
  return new Uint8Array(bits);
}

async function aesKey(raw) {
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function xor(a, b) {
  return a.map((byte, i) => byte ^ b[i]);
}

function same(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export class E2ee {
  // link: the link secret (Uint8Array); personOf/people: the room's roster.
  constructor(signaling, { selfId, link, people, onChange = () => {}, onWrongKey = () => {} }) {
    this.signaling = signaling;
    this.selfId = selfId;
    this.link = link;
    this.people = people; // () -> iterable of admitted participants (roster entries)
    this.onChange = onChange;
    this.onWrongKey = onWrongKey;
    this.secrets = []; // [{epoch, secret}], newest last
    this.knownKeys = new Map(); // pid -> e2ee_key we last saw
    this.helloAt = new Map(); // pid -> when we saw its hello
    this.selfMade = false; // our key is the link's own (we started the meeting's epochs)
    this.safetyCode = null;
    this.decoded = {}; // pid -> frames decrypted (from the worker)
    this.failed = {}; // pid -> frames dropped
    this.failingSince = null;
    this.slots = {};
    // RTCRtpScriptTransform where it exists (Firefox, current Chromium), else Chromium's older
    // createEncodedStreams; a browser may be told to take the older path (tests cover both).
    this.useScriptTransform = typeof RTCRtpScriptTransform !== "undefined" && localStorage.getItem("mosaic.e2ee.transform") !== "streams";
    this.worker = new Worker("/static/js/e2ee-worker.js");
    this.worker.onmessage = ({ data }) => this.workerSaid(data);
    signaling.on("e2ee.key", (event) => this.received(event).catch((error) => console.warn("e2ee key refused", error)));
  }

  // -- start -------------------------------------------------------------------------------

  async start() {
    this.mask = await hkdf(this.link, "link");
    const others = [...this.people()].filter((p) => p.id !== this.selfId && p.e2ee_key);
    for (const person of others) this.knownKeys.set(person.id, person.e2ee_key);
    if (others.length === 0) {
      // Nobody keyed yet: we start the meeting's epochs with the link's own secret.
      this.selfMade = true;
      await this.adopt(0, this.link);
    }
    await this.hello();
  }

  // A fresh key pair and hello; again (a new pair, which others see as new) if no key came.
  async hello(tries = HELLO_TRIES) {
    this.keyPair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    this.publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", this.keyPair.publicKey)));
    await this.signaling.request("e2ee.hello", { public_key: this.publicKey }).catch((error) => console.warn("e2ee hello", error));
    clearTimeout(this.helloTimer);
    if (tries > 1) {
      this.helloTimer = setTimeout(() => {
        if (!this.current()) this.hello(tries - 1);
      }, HELLO_RETRY_MS);
    }
  }

  sayHelloAgain() {
    if (this.publicKey) this.signaling.request("e2ee.hello", { public_key: this.publicKey }).catch(() => {});
  }

  current() {
    return this.secrets.length ? this.secrets[this.secrets.length - 1] : null;
  }

  hasKey() {
    return Boolean(this.current());
  }

  async adopt(epoch, secret) {
    this.secrets = this.secrets.filter((s) => !(s.epoch === epoch && same(s.secret, secret)));
    this.secrets.push({ epoch, secret });
    this.secrets.sort((a, b) => a.epoch - b.epoch);
    this.secrets = this.secrets.slice(-MAX_SECRETS);
    this.worker.postMessage({
      type: "keys",
      self: this.selfId,
      secrets: this.secrets.map((s) => ({ epoch: s.epoch, secret: s.secret.buffer.slice(0) })),
    });
    await this.refreshCode();
  }

  // -- roster ------------------------------------------------------------------------------

  // After the room applied a roster event: ratchet for newcomers (``joined``: those the
  // room's roster did not hold before), hand them the key, re-key after a departure. One
  // event at a time: two admissions in a row are two ratchets.
  roster(event) {
    // A failed event (logged by the room) does not stop the ones after it.
    this.rosterQueue = (this.rosterQueue || Promise.resolve()).catch(() => {}).then(() => this.applyRoster(event));
    return this.rosterQueue;
  }

  async applyRoster({ joined, left }) {
    const arrived = joined.filter((p) => p.id !== this.selfId);
    if (arrived.length && this.current()) {
      let { epoch, secret } = this.current();
      for (let i = 0; i < arrived.length; i++) {
        secret = await hkdf(secret, "ratchet");
        epoch += 1;
      }
      await this.adopt(epoch, secret);
    }
    const people = [...this.people()];
    const hellos = people.filter((p) => p.id !== this.selfId && p.e2ee_key && this.knownKeys.get(p.id) !== p.e2ee_key);
    for (const person of hellos) {
      this.knownKeys.set(person.id, person.e2ee_key);
      this.helloAt.set(person.id, performance.now());
    }
    const gone = left.filter((id) => this.knownKeys.has(id) || id !== this.selfId);
    for (const id of left) {
      this.knownKeys.delete(id);
      this.helloAt.delete(id);
    }
    if (gone.length && this.isLeader(people)) await this.rekey(people);
    else for (const person of hellos) if (this.handsTo(person.id, people)) await this.send(person, this.current());
    this.postParticipants();
    await this.refreshCode();
  }

  keyed(people) {
    return people.filter((p) => p.e2ee_key || (p.id === this.selfId && this.publicKey)).map((p) => p.id).sort();
  }

  isLeader(people) {
    return this.keyed(people)[0] === this.selfId;
  }

  // Whether we are one of the few who hand ``newcomer`` the key: the smallest ids among the
  // keyed, leaving out hellos so recent that they may still wait for a key themselves.
  handsTo(newcomer, people) {
    if (!this.current()) return false;
    const now = performance.now();
    const candidates = this.keyed(people).filter((id) => id !== newcomer);
    const settled = candidates.filter((id) => id === this.selfId || now - (this.helloAt.get(id) ?? -Infinity) > FRESH_MS);
    return (settled.length ? settled : candidates).slice(0, HANDERS).includes(this.selfId);
  }

  // A fresh secret for everyone still here (someone left or was removed).
  async rekey(people) {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const epoch = (this.current() ? this.current().epoch : 0) + 1;
    await this.adopt(epoch, secret);
    for (const person of people) if (person.id !== this.selfId && person.e2ee_key) await this.send(person, { epoch, secret });
  }

  // -- wrapping ----------------------------------------------------------------------------

  async wrapKey(otherKey, info) {
    const pub = await crypto.subtle.importKey("raw", fromBase64Url(otherKey), { name: "ECDH", namedCurve: "P-256" }, false, []);
    const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: pub }, this.keyPair.privateKey, 256));
    return aesKey(await hkdf(shared, info));
  }

  async send(person, key) {
    if (!key || !person.e2ee_key) return;
    try {
      const wrap = await this.wrapKey(person.e2ee_key, `wrap:${this.selfId}>${person.id}`);
      const epochBytes = new Uint8Array(4);
      new DataView(epochBytes.buffer).setUint32(0, key.epoch);
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, wrap, concat(xor(key.secret, this.mask), epochBytes)));
      await this.signaling.request("e2ee.key", { to: person.id, epoch: key.epoch, blob: toBase64Url(concat(iv, sealed)) });
    } catch (error) {
      console.warn("e2ee key not sent", error);
    }
  }

  async received({ from, epoch, blob }) {
    const sender = [...this.people()].find((p) => p.id === from);
    if (!sender || !sender.e2ee_key || !this.keyPair) return;
    const bytes = fromBase64Url(blob);
    const wrap = await this.wrapKey(sender.e2ee_key, `wrap:${from}>${this.selfId}`);
    const plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12) }, wrap, bytes.slice(12)));
    if (plain.length !== 36 || new DataView(plain.buffer).getUint32(32) !== epoch) return;
    const secret = xor(plain.slice(0, 32), this.mask);
    const now = this.current();
    if (now && epoch < now.epoch) return; // older than what we hold
    this.keyFrom = from; // who handed it (tests and diagnostics: never the server)
    await this.adopt(epoch, secret);
    this.onChange();
  }

  // -- media -------------------------------------------------------------------------------

  // What an RTCPeerConnection needs for the older createEncodedStreams path.
  peerConfig() {
    return this.useScriptTransform ? {} : { encodedInsertableStreams: true };
  }

  protect(sender, kind) {
    this.transform(sender, { operation: "encrypt", kind });
  }

  unprotect(receiver, kind, mid) {
    this.transform(receiver, { operation: "decrypt", kind, mid });
  }

  transform(endpoint, options) {
    if (this.useScriptTransform) {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = endpoint.createEncodedStreams();
    this.worker.postMessage({ type: "streams", readable, writable, options }, [readable, writable]);
  }

  setSlots(slots) {
    this.slots = {};
    for (const [mid, slot] of Object.entries(slots)) if (slot) this.slots[mid] = slot.participant;
    this.postParticipants();
  }

  postParticipants() {
    const ids = [...this.people()].map((p) => p.id).filter((id) => id !== this.selfId);
    this.worker.postMessage({ type: "participants", participants: ids, slots: this.slots });
  }

  workerSaid(message) {
    if (message.type === "ahead") {
      // A sender one or more admissions ahead of us (it saw a join we did not count, or we
      // were handed the key before a join it had counted): take its epoch, so that everyone
      // ends on the same secret and safety code.
      const now = this.current();
      if (now && message.epoch > now.epoch) this.adopt(message.epoch, new Uint8Array(message.secret));
      return;
    }
    if (message.type !== "stats") return;
    // The page redraws only when whose frames never open changes (the counts move every second).
    const marked = () => JSON.stringify(Object.keys(this.failed).filter((pid) => this.undecodable(pid)).sort());
    const before = marked();
    this.decoded = message.ok;
    this.failed = message.failed;
    if (marked() !== before) this.onChange();
    this.judgeKey();
  }

  // Frames come in and none decrypts, though we were handed a key: the link's key is wrong
  // (a client that started the epochs itself is the reference, never the one in the wrong).
  judgeKey() {
    const ok = Object.values(this.decoded).reduce((a, b) => a + b, 0);
    const failed = Object.values(this.failed).reduce((a, b) => a + b, 0);
    if (ok > 0 || this.selfMade || failed === 0 || !this.current()) {
      this.failingSince = null;
      return;
    }
    this.failingSince = this.failingSince ?? performance.now();
    if (performance.now() - this.failingSince > WRONG_KEY_MS && !this.judged) {
      this.judged = true;
      this.onWrongKey();
    }
  }

  // A participant whose frames reach us and never decrypt (their key or ours is wrong).
  undecodable(pid) {
    return (this.failed[pid] || 0) > 10 && !(this.decoded[pid] > 0);
  }

  // -- chat --------------------------------------------------------------------------------

  async chatKey(secret) {
    return aesKey(await hkdf(secret, "chat"));
  }

  async encryptChat(text) {
    const now = this.current();
    if (!now) throw new Error("no key yet");
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(this.selfId) }, await this.chatKey(now.secret), enc.encode(text)),
    );
    return `e2ee:${toBase64Url(concat(iv, sealed))}`;
  }

  // The text of an "e2ee:" message, or null when none of our keys opens it.
  async decryptChat(text, from) {
    if (!text.startsWith("e2ee:")) return null;
    let bytes;
    try {
      bytes = fromBase64Url(text.slice(5));
    } catch {
      return null;
    }
    const tries = [...this.secrets].reverse().map((s) => ({ secret: s.secret, epoch: null }));
    const now = this.current();
    if (now) {
      let secret = now.secret;
      for (let step = 1; step <= 4; step++) {
        secret = await hkdf(secret, "ratchet");
        tries.push({ secret, epoch: now.epoch + step });
      }
    }
    for (const { secret, epoch } of tries) {
      try {
        const plain = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: enc.encode(from) },
          await this.chatKey(secret),
          bytes.slice(12),
        );
        const latest = this.current();
        if (epoch !== null && latest && epoch > latest.epoch) await this.adopt(epoch, secret);
        return new TextDecoder().decode(plain);
      } catch {
        // Not this epoch's key.
      }
    }
    return null;
  }

  // -- safety code ----------------------------------------------------------------------------

  async refreshCode() {
    const now = this.current();
    let code = null;
    if (now) {
      const lines = [...this.people()]
        .map((p) => (p.id === this.selfId ? { ...p, e2ee_key: p.e2ee_key || this.publicKey } : p))
        .filter((p) => p.e2ee_key)
        .map((p) => `${p.id}:${p.e2ee_key}`)
        .sort()
        .join("\n");
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(enc.encode("mosaic-safety-v1"), now.secret, enc.encode(lines))));
      let value = 0n;
      for (const byte of digest.slice(0, 5)) value = (value << 8n) | BigInt(byte);
      const digits = (value % 10_000_000_000n).toString().padStart(10, "0");
      code = `${digits.slice(0, 5)} ${digits.slice(5)}`;
    }
    if (code !== this.safetyCode) {
      this.safetyCode = code;
      this.onChange();
    }
  }

  close() {
    clearTimeout(this.helloTimer);
    this.worker.terminate();
  }
}
