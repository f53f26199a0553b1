// End-to-end encryption of media frames (docs/e2ee.md), in a worker so that AES-GCM never
// runs on the page's thread. One worker per page: every sender of this participant shares one
// frame counter, so no two frames (camera layers, microphone, screen) ever share an IV under
// the same key. Frame format, SFrame-like (RFC 9605 in spirit, not its header):
//   clear prefix || AES-GCM(key, iv, rest, aad = prefix) || counter (8, BE) || epoch & 255 || 0xE2
// The prefix stays clear so that the SFU still tells VP8 keyframes apart and the browser's
// packetizer still writes its payload descriptor: VP8 keyframe 10 bytes, delta frame 3, Opus 1.
// A frame that does not decrypt is dropped: the decoder never sees garbage.
"use strict";

const SALT = new TextEncoder().encode("mosaic-e2ee-v1");
const MARK = 0xe2;
const TRAILER = 10;
const TAG = 16;
const MAX_SECRETS = 8; // epochs kept for frames still in flight after a change
const RATCHET_AHEAD = 4; // joins a sender may be ahead of us (we ratchet to catch up)

let selfId = null; // our participant id
let secrets = []; // [{epoch, secret: Uint8Array}], newest last
let counter = 0n;
let counterEpoch = null;
const derived = new Map(); // "hex(secret)|pid" -> {key, salt}
const ratcheted = new Map(); // "hex(secret)|steps" -> that secret ratcheted forward
const midSender = new Map(); // receiver mid -> participant id the server says it carries
let participants = []; // ids whose frames we may receive
const stats = { ok: {}, failed: {} };
const transformers = new Set();

const encoder = new TextEncoder();

async function hkdf(secret, info, bytes) {
  const base = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: SALT, info: encoder.encode(info) }, base, bytes * 8);
  return new Uint8Array(bits);
}

function hex(bytes) {
  return Array.from(bytes.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

// K(S, pid) and the IV salt, as plan16/docs/e2ee.md: HKDF info "media:" + pid and "salt:" + pid.
async function senderKey(secret, pid) {
  const name = `${hex(secret)}|${pid}`;
  let entry = derived.get(name);
  if (!entry) {
    const raw = await hkdf(secret, `media:${pid}`, 32);
    const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    entry = { key, salt: await hkdf(secret, `salt:${pid}`, 12) };
    if (derived.size > 512) derived.clear();
    derived.set(name, entry);
  }
  return entry;
}

function ivOf(salt, count) {
  const iv = new Uint8Array(salt);
  const view = new DataView(iv.buffer);
  view.setUint32(4, view.getUint32(4) ^ Number((count >> 32n) & 0xffffffffn));
  view.setUint32(8, view.getUint32(8) ^ Number(count & 0xffffffffn));
  return iv;
}

function prefixLength(kind, data) {
  if (kind === "audio") return Math.min(1, data.length);
  if (data.length === 0) return 0;
  return Math.min((data[0] & 1) === 0 ? 10 : 3, data.length);
}

function current() {
  return secrets.length ? secrets[secrets.length - 1] : null;
}

async function encrypt(frame, controller, kind) {
  const now = current();
  if (!now || selfId === null) return; // no key yet: send nothing rather than clear media
  if (counterEpoch !== now.epoch) {
    counterEpoch = now.epoch;
    counter = 0n;
  }
  const count = counter;
  counter += 1n;
  const data = new Uint8Array(frame.data);
  const clear = prefixLength(kind, data);
  const { key, salt } = await senderKey(now.secret, selfId);
  const prefix = data.subarray(0, clear);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: ivOf(salt, count), additionalData: prefix, tagLength: 128 }, key, data.subarray(clear)),
  );
  const out = new Uint8Array(clear + sealed.length + TRAILER);
  out.set(prefix, 0);
  out.set(sealed, clear);
  const view = new DataView(out.buffer);
  view.setBigUint64(clear + sealed.length, count);
  out[out.length - 2] = now.epoch & 0xff;
  out[out.length - 1] = MARK;
  frame.data = out.buffer;
  controller.enqueue(frame);
}

// The secrets a frame of epoch byte ``epochByte`` may be under: those we hold for that epoch,
// then ours ratcheted forward (a sender who saw a join before we did); ``ahead`` is that
// ratchet's epoch, which the page then takes as its own (everyone converges on the newest).
async function* candidates(epochByte) {
  for (let i = secrets.length - 1; i >= 0; i--) if ((secrets[i].epoch & 0xff) === epochByte) yield { secret: secrets[i].secret, ahead: null };
  const now = current();
  const ahead = now ? (epochByte - now.epoch) & 0xff : 0;
  if (ahead < 1 || ahead > RATCHET_AHEAD) return;
  const name = `${hex(now.secret)}|${ahead}`;
  if (!ratcheted.has(name)) {
    let secret = now.secret;
    for (let step = 0; step < ahead; step++) secret = await hkdf(secret, "ratchet", 32);
    if (ratcheted.size > 64) ratcheted.clear();
    ratcheted.set(name, secret);
  }
  yield { secret: ratcheted.get(name), ahead: now.epoch + ahead };
}

async function open(secret, pid, data, clear, count) {
  const { key, salt } = await senderKey(secret, pid);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: ivOf(salt, count), additionalData: data.subarray(0, clear), tagLength: 128 },
      key,
      data.subarray(clear, data.length - TRAILER),
    );
    return new Uint8Array(plain);
  } catch {
    return null;
  }
}

async function decrypt(frame, controller, kind, mid) {
  const data = new Uint8Array(frame.data);
  const clear = prefixLength(kind, data);
  const hinted = midSender.get(mid) || null;
  const blame = hinted || "?";
  if (data.length < clear + TAG + TRAILER || data[data.length - 1] !== MARK) {
    stats.failed[blame] = (stats.failed[blame] || 0) + 1;
    return; // clear media in an encrypted meeting is never shown
  }
  const count = new DataView(data.buffer, data.byteOffset).getBigUint64(data.length - TRAILER);
  const epochByte = data[data.length - 2];
  const order = hinted ? [hinted, ...participants.filter((p) => p !== hinted)] : participants;
  for await (const { secret, ahead } of candidates(epochByte)) {
    for (const pid of order) {
      const plain = await open(secret, pid, data, clear, count);
      if (!plain) continue;
      if (ahead !== null) postMessage({ type: "ahead", epoch: ahead, secret: secret.buffer.slice(0) });
      if (pid !== hinted) midSender.set(mid, pid);
      const out = new Uint8Array(clear + plain.length);
      out.set(data.subarray(0, clear), 0);
      out.set(plain, clear);
      frame.data = out.buffer;
      controller.enqueue(frame);
      stats.ok[pid] = (stats.ok[pid] || 0) + 1;
      return;
    }
  }
  stats.failed[blame] = (stats.failed[blame] || 0) + 1;
}

function attach(readable, writable, options, transformer = null) {
  const { operation, kind, mid } = options;
  if (transformer) transformers.add({ transformer, operation, kind });
  const transform = new TransformStream({
    async transform(frame, controller) {
      try {
        if (operation === "encrypt") await encrypt(frame, controller, kind);
        else await decrypt(frame, controller, kind, mid);
      } catch (error) {
        // A frame lost is better than a transform stopped for good.
        console.error("e2ee frame", error);
      }
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
}

// A new key: our next frames use it; ask for keyframes so that receivers start cleanly.
function keysChanged() {
  for (const { transformer, operation, kind } of transformers) {
    if (kind !== "video") continue;
    try {
      if (operation === "encrypt") transformer.generateKeyFrame?.().catch(() => {});
      else transformer.sendKeyFrameRequest?.().catch(() => {});
    } catch {
      // Not every browser has these: its receivers ask by themselves.
    }
  }
}

globalThis.onmessage = ({ data: message }) => {
  switch (message.type) {
    case "keys":
      selfId = message.self;
      secrets = message.secrets.map(({ epoch, secret }) => ({ epoch, secret: new Uint8Array(secret) })).slice(-MAX_SECRETS);
      keysChanged();
      break;
    case "participants":
      participants = message.participants;
      for (const [mid, pid] of Object.entries(message.slots || {})) midSender.set(mid, pid);
      break;
    case "streams":
      attach(message.readable, message.writable, message.options);
      break;
    default:
      break;
  }
};

// RTCRtpScriptTransform (Firefox, current Chromium) hands its transformers here.
globalThis.onrtctransform = ({ transformer }) => attach(transformer.readable, transformer.writable, transformer.options, transformer);

setInterval(() => {
  postMessage({ type: "stats", ok: stats.ok, failed: stats.failed });
}, 1000);
