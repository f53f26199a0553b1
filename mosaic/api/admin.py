"""What the instance admin and meeting hosts may read: reports and security audit trails."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from mosaic.api.deps import CurrentUser, ServicesDep
from mosaic.domain.ids import normalize_meeting_id

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/admin/reports")
async def reports(svc: ServicesDep, user: CurrentUser) -> list[dict[str, object]]:
    """Participants reported by hosts, newest first (instance admin only)."""
    if not user.is_admin:
        raise HTTPException(403, detail="for the instance admin only")
    return await svc.audit.reports()


@router.get("/meetings/{meeting_id}/audit")
async def meeting_audit(
    meeting_id: str, svc: ServicesDep, user: CurrentUser
) -> list[dict[str, str | None]]:
    """A meeting's security events (joins, admissions, removals, locks, reports...), for its
    host and the instance admin; kept for the retention period, then deleted."""
    canonical = normalize_meeting_id(meeting_id)
    record = await svc.meetings.get(canonical) if canonical else None
    if record is None or (record.host_user_id != user.id and not user.is_admin):
        raise HTTPException(404, detail="no such meeting")
    return [event.public() for event in await svc.audit.events(record.id)]
