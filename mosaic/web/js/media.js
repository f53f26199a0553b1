// WebRTC with the SFU: one connection to publish (we offer), one to receive (the server
// offers, and offers again as people come and go). The server tells us which of its
// sending slots carries whose video; we tell it what we show and how large.

// Three simulcast layers: the server forwards to each viewer the one that fits its tile.
// The quarter layer is what a poor link gets: at 100 kbit/s it fits a 200 kbit/s downlink
// with the speaker's audio (~45 kbit/s on the wire) and headers to spare; at 150 it did not.
const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 100_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", maxBitrate: 1_500_000 },
];

// A connection that fails, or is not up this long after it was negotiated (seen under load:
// ICE done, the DTLS handshake never finishing), is given up and built anew on both sides
// (the server cannot restart ICE in place). The wait doubles with each retry in a row, so a
// network that lets nothing through is not hammered.
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_CONNECT_TIMEOUT_MS = 60_000;

// A connection can also die while ICE stays up (the server's end stopped sending but still
// answers connectivity checks): it reads "connected" and the tiles freeze. A connected
// connection that should carry packets (a slot carries a source its participant has on; or we
// publish, and the server sends receiver reports about once a second) but received none for
// this long is given up too (twice as long while nothing at all has arrived: its publishers may
// still be connecting), waiting longer after each silent connection in a row. The rules are
// mosaic.client.watchdog's.
const SILENCE_MS = 5_000;
const MAX_SILENCE_MS = 60_000;
const POLL_MS = 1_000;
// The roster's flag for each source a slot may carry.
const ROSTER_FLAG = { microphone: "audio", camera: "video", screen: "screen", screen_audio: "screen" };

// Bytes received on a connection other than ICE checks (RTP, RTCP, DTLS): Chromium counts
// only non-STUN datagrams in a candidate pair's bytesReceived. null where the browser does not
// say (then the silence rule stays out of it rather than replace a healthy connection).
async function bytesReceived(pc) {
  let total = null;
  (await pc.getStats()).forEach((entry) => {
    if (entry.type === "candidate-pair" && typeof entry.bytesReceived === "number") {
      total = (total || 0) + entry.bytesReceived;
    }
  });
  return total;
}

// The ICE username fragment of a description: it names the server's end of a connection.
function iceUfrag(sdp) {
  const found = /^a=ice-ufrag:(\S+)/m.exec(sdp || "");
  return found ? found[1] : null;
}

export class Media {
  // e2ee: the meeting's end-to-end encryption (e2ee.js), or null: every sender and receiver
  // then passes its frames through the encryption worker.
  constructor(signaling, localStream, { iceServers = [], onSlots = () => {}, onTrack = () => {}, onFailed = () => {}, personOf = () => null, e2ee = null } = {}) {
    this.signaling = signaling;
    this.e2ee = e2ee;
    this.localStream = localStream;
    this.iceServers = iceServers;
    this.onSlots = onSlots;
    this.onTrack = onTrack;
    this.onFailed = onFailed;
    this.personOf = personOf; // participant id -> roster entry
    this.publisher = null;
    this.subscriber = null;
    this.sources = {}; // publish mid -> source
    this.senders = {}; // source -> RTCRtpSender
    this.slots = {}; // subscribe mid -> {participant, source} | null
    this.remoteTracks = {}; // subscribe mid -> MediaStreamTrack
    this.negotiating = Promise.resolve();
    this.connectTimeout = { publish: CONNECT_TIMEOUT_MS, subscribe: CONNECT_TIMEOUT_MS };
    this.silenceLimit = { publish: SILENCE_MS, subscribe: SILENCE_MS };
    this.abandoned = new Set(); // ICE ufrags of server connections given up
    signaling.on("offer", (event) => {
      this.negotiating = this.negotiating.then(() => this.answer(event)).catch((error) => console.error("subscribe negotiation failed", error));
    });
    signaling.on("slots", (event) => this.applySlots(event.slots));
  }

  connection(kind) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle", ...(this.e2ee ? this.e2ee.peerConfig() : {}) });
    // A network change can break a connection for good (ICE or DTLS): start it afresh.
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") this.connectTimeout[kind] = CONNECT_TIMEOUT_MS;
      else if (pc.connectionState === "failed") this.giveUp(kind, pc);
    });
    pc.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate;
      this.signaling
        .request("ice", { pc: kind, candidate: candidate ? candidate.candidate : null, mid: candidate ? candidate.sdpMid : null })
        .catch(() => {});
    });
    return pc;
  }

  async publish() {
    this.publisher = this.connection("publish");
    const audio = this.localStream.getAudioTracks()[0];
    const video = this.localStream.getVideoTracks()[0];
    if (audio) this.addSender("microphone", audio, { direction: "sendonly", streams: [this.localStream] });
    if (video) {
      this.addSender("camera", video, { direction: "sendonly", streams: [this.localStream], sendEncodings: SIMULCAST });
    }
    await this.negotiatePublisher();
    this.watch("publish", this.publisher);
  }

  // Give ``pc`` up unless it is connected in time, or if it falls silent.
  watch(kind, pc) {
    setTimeout(() => {
      if (pc.connectionState !== "connected") this.giveUp(kind, pc);
    }, this.connectTimeout[kind]);
    this.listen(kind, pc);
  }

  // Give ``pc`` up if, connected, it receives nothing for a while when packets are expected.
  listen(kind, pc) {
    const limit = this.silenceLimit[kind];
    let received = null;
    let baseline = null; // the count when it connected (the DTLS handshake's bytes)
    let since = null; // when bytes last arrived, or began to be expected
    let busy = false;
    const connected = () => {
      if (pc.connectionState !== "connected") return;
      baseline = null;
      bytesReceived(pc).then((count) => { baseline = count; }, () => {});
    };
    pc.addEventListener("connectionstatechange", connected);
    connected();
    const timer = setInterval(async () => {
      const current = kind === "publish" ? this.publisher : this.subscriber;
      if (pc !== current || pc.connectionState === "closed") {
        clearInterval(timer);
        return;
      }
      if (busy) return;
      if (pc.connectionState !== "connected") {
        received = since = null; // not up: the connect timeout's business
        return;
      }
      busy = true;
      const count = await bytesReceived(pc).catch(() => null);
      busy = false;
      if (count === null) return;
      const expected = kind === "publish" ? this.sending() : this.expecting();
      const moved = expected && received !== null && count !== received;
      const now = performance.now();
      if (!expected) since = null;
      else if (since === null || moved) since = now;
      received = count;
      if (moved) this.silenceLimit[kind] = SILENCE_MS;
      if (since !== null && now - since >= (count === baseline ? 2 * limit : limit)) {
        clearInterval(timer);
        this.silenceLimit[kind] = Math.min(limit * 2, MAX_SILENCE_MS);
        this.giveUp(kind, pc);
      }
    }, POLL_MS);
  }

  // We publish something: the server's receiver reports should come back.
  sending() {
    return Boolean(this.publisher) && this.publisher.getTransceivers().some(
      (t) => t.sender.track && (t.currentDirection === "sendonly" || t.currentDirection === "sendrecv"),
    );
  }

  // One of the server's slots carries a source its participant has on.
  expecting() {
    return Object.entries(this.slots).some(([mid, slot]) => {
      if (!slot || !this.remoteTracks[mid]) return false;
      const person = this.personOf(slot.participant);
      return Boolean(person && person[ROSTER_FLAG[slot.source] || slot.source]);
    });
  }

  giveUp(kind, pc) {
    const current = kind === "publish" ? this.publisher : this.subscriber;
    if (pc !== current || pc.connectionState === "closed") return;
    this.connectTimeout[kind] = Math.min(this.connectTimeout[kind] * 2, MAX_CONNECT_TIMEOUT_MS);
    this.onFailed(kind);
    const restart = kind === "publish" ? this.restartPublisher() : this.restartSubscriber();
    restart.catch((error) => console.error(error));
  }

  async restartPublisher() {
    const tracks = Object.entries(this.senders).map(([source, sender]) => [source, sender.track]);
    this.publisher.close();
    this.publisher = this.connection("publish");
    this.senders = {};
    for (const [source, track] of tracks) {
      if (!track) continue;
      const init = { direction: "sendonly", streams: [this.localStream] };
      if (source === "camera") init.sendEncodings = SIMULCAST;
      this.addSender(source, track, init);
    }
    await this.negotiatePublisher();
    this.watch("publish", this.publisher);
  }

  async restartSubscriber() {
    const old = this.subscriber;
    if (old) {
      // Offers this connection's server end sent before hearing of the restart are stale.
      const ufrag = old.remoteDescription && iceUfrag(old.remoteDescription.sdp);
      if (ufrag) this.abandoned.add(ufrag);
      old.close();
    }
    this.subscriber = null;
    this.remoteTracks = {};
    await this.signaling.request("restart", { pc: "subscribe" });
  }

  addSender(source, track, init) {
    const transceiver = this.publisher.addTransceiver(track, init);
    if (this.e2ee) this.e2ee.protect(transceiver.sender, track.kind);
    this.senders[source] = transceiver.sender;
    transceiver.source = source;
    return transceiver;
  }

  async negotiatePublisher() {
    const pc = this.publisher;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sources = {};
    for (const transceiver of pc.getTransceivers()) {
      if (transceiver.mid !== null && transceiver.source && transceiver.currentDirection !== "stopped") {
        sources[transceiver.mid] = transceiver.source;
      }
    }
    this.sources = sources;
    const { sdp } = await this.signaling.request("publish", { sdp: pc.localDescription.sdp, sources });
    await pc.setRemoteDescription({ type: "answer", sdp });
  }

  async answer(event) {
    if (this.abandoned.has(iceUfrag(event.sdp))) return;
    this.forgetOtherTransport(event.sdp);
    const fresh = !this.subscriber;
    if (fresh) {
      this.subscriber = this.connection("subscribe");
      this.subscriber.addEventListener("track", (trackEvent) => {
        const mid = trackEvent.transceiver.mid;
        if (this.e2ee) this.e2ee.unprotect(trackEvent.receiver, trackEvent.track.kind, mid);
        this.remoteTracks[mid] = trackEvent.track;
        this.onTrack(mid, trackEvent.track);
      });
    }
    const pc = this.subscriber;
    await pc.setRemoteDescription({ type: "offer", sdp: event.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.signaling.request("answer", { sdp: pc.localDescription.sdp });
    if (event.slots) this.applySlots(event.slots);
    if (fresh) this.watch("subscribe", pc);
  }

  // An offer from another server transport than our subscribe connection's (the server
  // restarted and lost ours) is for a new connection: close the old one.
  forgetOtherTransport(sdp) {
    const pc = this.subscriber;
    if (!pc || !pc.remoteDescription || iceUfrag(pc.remoteDescription.sdp) === iceUfrag(sdp)) return;
    pc.close();
    this.subscriber = null;
    this.remoteTracks = {};
  }

  // The server restarted and lost our media: publish the same tracks on a new connection, and
  // say again what we show; its next offer makes the new subscribe connection.
  async startAfresh() {
    this.lastView = null;
    await this.restartPublisher();
  }

  applySlots(slots) {
    this.slots = { ...this.slots, ...slots };
    if (this.e2ee) this.e2ee.setSlots(this.slots);
    this.onSlots(this.slots);
  }

  // The track (if any) that carries a participant's source right now.
  trackOf(participantId, source) {
    for (const [mid, slot] of Object.entries(this.slots)) {
      if (slot && slot.participant === participantId && slot.source === source) return this.remoteTracks[mid] || null;
    }
    return null;
  }

  audioTracks() {
    return Object.entries(this.remoteTracks)
      .filter(([, track]) => track.kind === "audio")
      .map(([mid, track]) => ({ mid, track }));
  }

  // maxKbps: the data saver's cap on what we receive, or null for none. Left out of the
  // message when null (the server reads a missing cap as none).
  setView(videos, maxKbps = null) {
    const view = maxKbps ? { videos, max_kbps: maxKbps } : { videos };
    const key = JSON.stringify(view);
    if (key === this.lastView) return;
    this.lastView = key;
    this.signaling.request("view", view).catch(() => {});
  }

  async startScreenShare(stream) {
    const track = stream.getVideoTracks()[0];
    const transceiver = this.addSender("screen", track, { direction: "sendonly", streams: [stream] });
    track.contentHint = "detail";
    await this.negotiatePublisher();
    return transceiver;
  }

  async stopScreenShare() {
    const sender = this.senders.screen;
    if (!sender) return;
    const transceiver = this.publisher.getTransceivers().find((t) => t.sender === sender);
    if (sender.track) sender.track.stop();
    delete this.senders.screen;
    if (transceiver) transceiver.stop();
    await this.negotiatePublisher();
  }

  async stats() {
    const report = { inbound: [], outbound: [] };
    for (const [name, pc] of [["inbound", this.subscriber], ["outbound", this.publisher]]) {
      if (!pc) continue;
      const stats = await pc.getStats();
      stats.forEach((entry) => {
        if (entry.type === `${name}-rtp`) report[name].push(entry);
      });
    }
    return report;
  }

  close() {
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
  }
}
