// The pre-join screen: see and hear yourself, pick devices, type your name.
const $ = (id) => document.getElementById(id);

export class PreJoin {
  constructor() {
    this.stream = null;
    this.micOn = localStorage.getItem("mosaic.micOn") !== "false";
    this.camOn = localStorage.getItem("mosaic.camOn") !== "false";
    this.audioContext = null;
    this.meterTimer = null;
  }

  async start() {
    await this.open();
    await this.listDevices();
    $("camera-select").addEventListener("change", () => this.open());
    $("mic-select").addEventListener("change", () => this.open());
    $("preview-mic").addEventListener("click", () => this.toggle("mic"));
    $("preview-cam").addEventListener("click", () => this.toggle("cam"));
    navigator.mediaDevices.addEventListener?.("devicechange", () => this.listDevices());
    this.renderToggles();
  }

  // "hd" sends 1280x720 (three simulcast layers); "standard" 640x360 saves bandwidth and CPU.
  static videoQuality() {
    return localStorage.getItem("mosaic.videoQuality") === "standard" ? "standard" : "hd";
  }

  constraints() {
    const camera = $("camera-select").value;
    const mic = $("mic-select").value;
    const hd = PreJoin.videoQuality() === "hd";
    return {
      audio: mic ? { deviceId: { exact: mic } } : true,
      video: {
        ...(camera ? { deviceId: { exact: camera } } : {}),
        width: { ideal: hd ? 1280 : 640 },
        height: { ideal: hd ? 720 : 360 },
        frameRate: { ideal: 30 },
      },
    };
  }

  async open() {
    this.stopTracks();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(this.constraints());
    } catch (error) {
      console.warn("no camera or microphone", error);
      this.stream = new MediaStream();
    }
    for (const track of this.stream.getAudioTracks()) track.enabled = this.micOn;
    for (const track of this.stream.getVideoTracks()) track.enabled = this.camOn;
    $("preview-video").srcObject = this.stream;
    this.watchLevel();
    this.renderToggles();
  }

  async listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    fill($("camera-select"), devices.filter((d) => d.kind === "videoinput"), this.trackDevice("video"));
    fill($("mic-select"), devices.filter((d) => d.kind === "audioinput"), this.trackDevice("audio"));
  }

  trackDevice(kind) {
    const track = this.stream && this.stream.getTracks().find((t) => t.kind === kind);
    return track ? track.getSettings().deviceId : "";
  }

  toggle(which) {
    if (which === "mic") this.micOn = !this.micOn;
    else this.camOn = !this.camOn;
    localStorage.setItem("mosaic.micOn", String(this.micOn));
    localStorage.setItem("mosaic.camOn", String(this.camOn));
    for (const track of this.stream.getAudioTracks()) track.enabled = this.micOn;
    for (const track of this.stream.getVideoTracks()) track.enabled = this.camOn;
    this.renderToggles();
  }

  renderToggles() {
    $("preview-mic").setAttribute("aria-pressed", String(this.micOn));
    $("preview-cam").setAttribute("aria-pressed", String(this.camOn));
    $("preview-off").hidden = this.camOn && this.stream && this.stream.getVideoTracks().length > 0;
  }

  watchLevel() {
    clearInterval(this.meterTimer);
    const audio = this.stream.getAudioTracks()[0];
    if (!audio) return;
    this.audioContext = this.audioContext || new AudioContext();
    const source = this.audioContext.createMediaStreamSource(new MediaStream([audio]));
    const analyser = this.audioContext.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.meterTimer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const value of samples) sum += value * value;
      $("mic-level").value = this.micOn ? Math.min(1, Math.sqrt(sum / samples.length) * 4) : 0;
    }, 100);
  }

  stopTracks() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
  }

  // Hands the live stream over to the room; the preview stops watching it.
  release() {
    clearInterval(this.meterTimer);
    if (this.audioContext) this.audioContext.close();
    this.audioContext = null;
    const stream = this.stream;
    this.stream = null;
    return stream;
  }
}

function fill(select, devices, selected) {
  select.replaceChildren(
    ...devices.map((device, index) => {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || `${device.kind} ${index + 1}`;
      return option;
    }),
  );
  if (selected) select.value = selected;
}
