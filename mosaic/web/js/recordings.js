// The Recordings page of one meeting (/recordings?meeting=ID): its host's (or the admin's)
// list, with size and duration, a download of each and its deletion. The server decides who
// sees what; to anyone else the meeting does not exist.
import { api, ApiError } from "./api.js";
import { language, startI18n, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const meetingId = new URLSearchParams(location.search).get("meeting") || "";

function size(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${new Intl.NumberFormat(language(), { maximumFractionDigits: unit ? 1 : 0 }).format(value)} ${units[unit]}`;
}

function duration(seconds) {
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function row(recording) {
  const tr = document.createElement("tr");
  tr.dataset.recordingId = recording.id;
  const started = new Date(recording.started_at).toLocaleString(language());
  // Running: no duration or size yet. Cut short by a server stop: no duration, its files kept.
  let length = recording.duration_s === null ? "—" : duration(recording.duration_s);
  if (recording.recording) length = t("recordings.running");
  tr.append(cell(started), cell(length), cell(recording.recording ? "—" : size(recording.size_bytes)));
  const actions = document.createElement("td");
  actions.className = "row";
  const path = `/api/meetings/${encodeURIComponent(meetingId)}/recordings/${recording.id}`;
  const download = document.createElement("a");
  download.className = "button primary small";
  download.href = path;
  download.setAttribute("download", "");
  download.textContent = t("recordings.download");
  download.setAttribute("aria-label", t("recordings.download_one", { started }));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button danger small";
  remove.textContent = t("recordings.delete");
  remove.setAttribute("aria-label", t("recordings.delete_one", { started }));
  remove.addEventListener("click", async () => {
    if (!confirm(t("recordings.confirm_delete", { started }))) return;
    remove.disabled = true;
    try {
      await api("DELETE", path);
    } catch {
      $("recordings-status").textContent = t("recordings.failed");
      remove.disabled = false;
      return;
    }
    await render();
    $("recordings-status").textContent = t("recordings.deleted");
  });
  // Nothing to download or delete while the recorder still writes it.
  if (!recording.recording) actions.append(download, remove);
  tr.append(actions);
  return tr;
}

async function render() {
  $("recordings-meeting").textContent = meetingId;
  let recordings;
  try {
    recordings = await api("GET", `/api/meetings/${encodeURIComponent(meetingId)}/recordings`);
  } catch (error) {
    const missing = error instanceof ApiError && [401, 403, 404, 422].includes(error.status);
    $("recordings-status").textContent = t(missing ? "recordings.not_found" : "recordings.failed");
    $("recordings-table").hidden = true;
    return;
  }
  $("recordings-list").replaceChildren(...recordings.map(row));
  $("recordings-table").hidden = recordings.length === 0;
  $("recordings-status").textContent = recordings.length === 0 ? t("recordings.none") : "";
}

await startI18n();
await render();
