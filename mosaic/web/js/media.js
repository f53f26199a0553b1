// WebRTC with the SFU: one connection to publish (we offer), one to receive (the server
// offers, and offers again as people come and go). The server tells us which of its
// sending slots carries whose video; we tell it what we show and how large.

// Three simulcast layers: the server forwards to each viewer the one that fits its tile.
const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", maxBitrate: 1_500_000 },
];

export class Media {
  constructor(signaling, localStream, { iceServers = [], onSlots = () => {}, onTrack = () => {}, onFailed = () => {} } = {}) {
    this.signaling = signaling;
    this.localStream = localStream;
    this.iceServers = iceServers;
    this.onSlots = onSlots;
    this.onTrack = onTrack;
    this.onFailed = onFailed;
    this.publisher = null;
    this.subscriber = null;
    this.sources = {}; // publish mid -> source
    this.senders = {}; // source -> RTCRtpSender
    this.slots = {}; // subscribe mid -> {participant, source} | null
    this.remoteTracks = {}; // subscribe mid -> MediaStreamTrack
    this.negotiating = Promise.resolve();
    signaling.on("offer", (event) => {
      this.negotiating = this.negotiating.then(() => this.answer(event)).catch((error) => console.error("subscribe negotiation failed", error));
    });
    signaling.on("slots", (event) => this.applySlots(event.slots));
  }

  connection(kind) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    // A network change can break a connection for good: start it afresh (the server cannot
    // restart ICE in place, so a restart is a new connection on both sides).
    pc.addEventListener("iceconnectionstatechange", () => {
      if (pc.iceConnectionState !== "failed") return;
      this.onFailed(kind);
      if (kind === "publish") this.restartPublisher().catch((error) => console.error(error));
      else this.restartSubscriber().catch((error) => console.error(error));
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
  }

  async restartSubscriber() {
    if (this.subscriber) this.subscriber.close();
    this.subscriber = null;
    this.remoteTracks = {};
    await this.signaling.request("restart", { pc: "subscribe" });
  }

  addSender(source, track, init) {
    const transceiver = this.publisher.addTransceiver(track, init);
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
    if (!this.subscriber) {
      this.subscriber = this.connection("subscribe");
      this.subscriber.addEventListener("track", (trackEvent) => {
        const mid = trackEvent.transceiver.mid;
        this.remoteTracks[mid] = trackEvent.track;
        this.onTrack(mid, trackEvent.track);
      });
    }
    await this.subscriber.setRemoteDescription({ type: "offer", sdp: event.sdp });
    const answer = await this.subscriber.createAnswer();
    await this.subscriber.setLocalDescription(answer);
    await this.signaling.request("answer", { sdp: this.subscriber.localDescription.sdp });
    if (event.slots) this.applySlots(event.slots);
  }

  applySlots(slots) {
    this.slots = { ...this.slots, ...slots };
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

  setView(videos) {
    const key = JSON.stringify(videos);
    if (key === this.lastView) return;
    this.lastView = key;
    this.signaling.request("view", { videos }).catch(() => {});
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
