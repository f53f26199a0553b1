"""A meeting's server recordings: listed, downloaded (one zip of its files), deleted.

Only the meeting's host and the instance admin reach them (`mosaic.domain.accounts`); to
anyone else a recording, like its meeting, does not exist. A recording is always looked up
*within* the meeting the caller was allowed: an id of another meeting's recording is a 404.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from mosaic.api.deps import Authorized, ServicesDep, meeting_for, permit
from mosaic.api.errors import SIGNED_IN, WRITE, responses
from mosaic.domain.accounts import AccountAction
from mosaic.domain.ids import is_recording_id
from mosaic.services import Services
from mosaic.signaling.recording import directory_size
from mosaic.store.meetings import MeetingRecord
from mosaic.store.recordings import RecordingRecord

router = APIRouter(prefix="/api/meetings", tags=["recordings"])


class RecordingOut(BaseModel):
    id: str
    started_at: datetime
    stopped_at: datetime | None
    size_bytes: int
    duration_s: float | None
    recording: bool = Field(description="Being written now (no stop time, no duration yet)")


async def _out(svc: Services, record: RecordingRecord) -> RecordingOut:
    running = await _running(svc, record)
    size = record.size_bytes
    if record.stopped_at is None and not running:
        # The server stopped during it: its files (written to survive that) are what it is.
        size = await asyncio.to_thread(directory_size, svc.recordings.directory_of(record))
    return RecordingOut(
        id=record.id,
        started_at=record.started_at,
        stopped_at=record.stopped_at,
        size_bytes=size,
        duration_s=record.duration_s,
        recording=running,
    )


async def _recording_of(
    svc: Services, meeting: MeetingRecord, recording_id: str
) -> RecordingRecord:
    record = await svc.recordings.store.get(recording_id) if is_recording_id(recording_id) else None
    if record is None or record.meeting_id != meeting.id:
        raise HTTPException(404, detail="no such recording")
    return record


@router.get(
    "/{meeting_id}/recordings",
    response_model=list[RecordingOut],
    responses=responses(*SIGNED_IN, 404, 422),
)
async def list_recordings(
    meeting_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.LIST_RECORDINGS)],
) -> list[RecordingOut]:
    """The meeting's recordings, newest first (one still running has no stop time; nor has
    one the server stopped during, whose files are kept as they were written)."""
    meeting = await meeting_for(svc, who, AccountAction.LIST_RECORDINGS, meeting_id)
    records = await svc.recordings.store.list_for_meeting(meeting.id)
    return [await _out(svc, record) for record in records]


@router.get(
    "/{meeting_id}/recordings/{recording_id}",
    response_class=FileResponse,
    responses={
        **responses(*SIGNED_IN, 404, 409, 422),
        200: {"content": {"application/zip": {}}, "description": "The recording's files"},
    },
)
async def download_recording(
    meeting_id: str,
    recording_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.DOWNLOAD_RECORDING)],
) -> FileResponse:
    """One zip of the recording's files (WebM per participant and source, the manifest).
    Stored, not compressed: the media is compressed already."""
    meeting = await meeting_for(svc, who, AccountAction.DOWNLOAD_RECORDING, meeting_id)
    record = await _recording_of(svc, meeting, recording_id)
    if await _running(svc, record):
        raise HTTPException(409, detail="the recording is still running")
    archive = await asyncio.to_thread(_zip, svc.recordings.directory_of(record))
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"mosaic-{meeting.id}-{record.id}.zip",
        background=BackgroundTask(os.unlink, archive),
    )


@router.delete(
    "/{meeting_id}/recordings/{recording_id}",
    status_code=204,
    responses=responses(*SIGNED_IN, *WRITE, 404, 409),
)
async def delete_recording(
    meeting_id: str,
    recording_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.DELETE_RECORDING)],
) -> Response:
    """Delete a recording: its files first, then its row (a failure leaves it listed)."""
    meeting = await meeting_for(svc, who, AccountAction.DELETE_RECORDING, meeting_id)
    record = await _recording_of(svc, meeting, recording_id)
    if await _running(svc, record):
        raise HTTPException(409, detail="stop the recording first")
    await svc.recordings.remove_files(record)
    await svc.recordings.store.delete(record.id)
    return Response(status_code=204)


async def _running(svc: Services, record: RecordingRecord) -> bool:
    """Whether a live room's recorder writes it now (one the server died during has no
    stop time either, and its files, written to survive that, are served). In cluster mode
    an unstopped one of a meeting live on another worker is taken as running there."""
    room = svc.rooms.get(record.meeting_id)
    if room is not None:
        return room.recording_id == record.id
    if record.stopped_at is None and svc.signaling is not None:
        return await svc.signaling.live_elsewhere(record.meeting_id)
    return False


def _zip(directory: Path) -> str:
    handle, name = tempfile.mkstemp(prefix="mosaic-recording-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_STORED) as archive:
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.write(path, path.relative_to(directory).as_posix())
    return name
