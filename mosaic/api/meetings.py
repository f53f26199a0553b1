"""Meetings a signed-in host schedules, reads, changes and deletes.

The passcode is shown once, when it is made (creation, or asking for a new one): only its
argon2 hash is kept. The invitation link carries it in the URL fragment (``#pwd=``), which
browsers never send to a server, so it stays out of every access log and Referer header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mosaic.api import errors
from mosaic.api.deps import Authorized, ServicesDep, meeting_for, permit
from mosaic.api.errors import SIGNED_IN, WRITE, responses
from mosaic.domain.accounts import AccountAction
from mosaic.domain.ids import new_meeting_id, new_passcode
from mosaic.domain.settings import MeetingSettings
from mosaic.domain.text import MAX_TOPIC_CHARS, clean_topic, default_topic
from mosaic.security.hashing import hash_secret
from mosaic.services import Services
from mosaic.store.meetings import MeetingRecord

router = APIRouter(prefix="/api/meetings", tags=["meetings"])

# The one rule for user text (mosaic.domain.text); a blank topic becomes the default one.
Topic = Annotated[str, Field(max_length=4 * MAX_TOPIC_CHARS), AfterValidator(clean_topic)]


class MeetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: Topic = ""
    settings: MeetingSettings = Field(default_factory=MeetingSettings)


class MeetingPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: Topic | None = Field(default=None, description="blank: the default topic")
    settings: dict[str, Any] | None = Field(default=None, max_length=20)
    new_passcode: bool = False


class MeetingOut(BaseModel):
    id: str
    topic: str
    join_url: str = Field(description="The link to share; carries the passcode when it is new")
    passcode: str | None = Field(
        default=None, description="Present only when the passcode was just made"
    )
    settings: MeetingSettings
    created_at: datetime
    live_participants: int = 0


def _out(svc: Services, record: MeetingRecord, passcode: str | None = None) -> MeetingOut:
    join_url = f"{svc.settings.base_url}/m/{record.id}"
    if passcode:
        join_url += f"#pwd={passcode}"
    room = svc.rooms.get(record.id)
    return MeetingOut(
        id=record.id,
        topic=record.topic,
        join_url=join_url,
        passcode=passcode,
        settings=record.settings,
        created_at=record.created_at,
        live_participants=len(room.meeting.roster.admitted()) if room else 0,
    )


def _check_policy(svc: Services, settings: MeetingSettings) -> None:
    problems = svc.policy.violations(settings)
    if problems:
        message = "this instance requires: " + ", ".join(problems) + " (set by the admin)"
        raise HTTPException(
            422, detail=errors.problem("instance_policy", ["body", "settings"], message)
        )


@router.post(
    "", status_code=201, response_model=MeetingOut, responses=responses(*SIGNED_IN, *WRITE)
)
async def create_meeting(
    body: MeetingIn,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.CREATE_MEETING)],
) -> MeetingOut:
    user = who.account
    settings = svc.policy.imposed(body.settings, body.settings.model_fields_set)
    _check_policy(svc, settings)
    passcode = new_passcode() if settings.passcode_required else None
    record = await svc.meetings.create(
        new_meeting_id(),
        user.id,
        body.topic or default_topic(user.name),
        await hash_secret(passcode) if passcode else None,
        settings,
    )
    return _out(svc, record, passcode)


@router.get("", response_model=list[MeetingOut], responses=responses(*SIGNED_IN))
async def list_meetings(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.LIST_MEETINGS)]
) -> list[MeetingOut]:
    return [_out(svc, record) for record in await svc.meetings.list_for_host(who.account.id)]


@router.get("/{meeting_id}", response_model=MeetingOut, responses=responses(*SIGNED_IN, 404, 422))
async def get_meeting(
    meeting_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.READ_MEETING)],
) -> MeetingOut:
    return _out(svc, await meeting_for(svc, who, AccountAction.READ_MEETING, meeting_id))


@router.patch(
    "/{meeting_id}", response_model=MeetingOut, responses=responses(*SIGNED_IN, *WRITE, 404, 409)
)
async def update_meeting(
    meeting_id: str,
    body: MeetingPatch,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.EDIT_MEETING)],
) -> MeetingOut:
    record = await meeting_for(svc, who, AccountAction.EDIT_MEETING, meeting_id)
    settings = record.settings
    if body.settings is not None:
        try:
            settings = MeetingSettings.model_validate(
                {**record.settings.model_dump(), **body.settings}
            )
        except ValidationError as exc:
            raise HTTPException(422, detail=errors.describe(exc)) from None
        _check_policy(svc, settings)
        live = svc.rooms.get(record.id)
        conflict = live.meeting.settings_conflict(settings) if live is not None else None
        if conflict:
            raise HTTPException(
                409, detail=errors.problem("recording", ["body", "settings", "e2ee"], conflict)
            )
    # A passcode turned on (or asked for anew) is made here and shown this once.
    passcode = None
    if settings.passcode_required and (body.new_passcode or record.passcode_hash is None):
        passcode = new_passcode()
    updated = await svc.meetings.update(
        record.id,
        topic=None if body.topic is None else body.topic or default_topic(who.account.name),
        settings=settings,
        passcode_hash=await hash_secret(passcode) if passcode else None,
        clear_passcode=not settings.passcode_required,
    )
    assert updated is not None
    # The door reads the store, so the next join obeys the change; the people in a live
    # meeting see it now (and its in-meeting rules, such as who may chat, apply at once).
    room = svc.rooms.get(updated.id)
    if room is not None:
        room.apply_stored(updated)
    if svc.signaling is not None:  # cluster mode: the meeting may live on another worker
        await svc.signaling.tell_home(updated.id, "meeting_changed")
    return _out(svc, updated, passcode)


@router.delete("/{meeting_id}", status_code=204, responses=responses(*SIGNED_IN, *WRITE, 404))
async def delete_meeting(
    meeting_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.DELETE_MEETING)],
) -> Response:
    record = await meeting_for(svc, who, AccountAction.DELETE_MEETING, meeting_id)
    await svc.rooms.end(record.id, reason="meeting deleted")
    if svc.signaling is not None:  # cluster mode: the meeting may live on another worker
        await svc.signaling.tell_home(record.id, "meeting_ended")
    # Its recordings go with it: the rows by cascade, the files here (the room is closed,
    # so no recorder writes to them any more).
    for recording in await svc.recordings.store.list_for_meeting(record.id):
        await svc.recordings.remove_files(recording)
    await svc.meetings.delete(record.id)
    return Response(status_code=204)
