"""What the instance admin and meeting hosts may read: reports and security audit trails; and
what the instance admin vouches for: e-mail addresses, on instances that send no mail."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException

from mosaic.api.deps import Authorized, ServicesDep, meeting_for, permit
from mosaic.api.errors import SIGNED_IN, WRITE, RowId, responses
from mosaic.domain.accounts import AccountAction
from mosaic.store.users import Account

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/admin/reports", responses=responses(*SIGNED_IN, 403))
async def reports(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.READ_REPORTS)]
) -> list[dict[str, object]]:
    """Participants reported by hosts, newest first (instance admin only)."""
    return await svc.audit.reports()


@router.get("/meetings/{meeting_id}/audit", responses=responses(*SIGNED_IN, 404, 422))
async def meeting_audit(
    meeting_id: str,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.READ_MEETING_AUDIT)],
) -> list[dict[str, str | None]]:
    """A meeting's security events (joins, admissions, removals, locks, reports...), for its
    host and the instance admin; kept for the retention period, then deleted."""
    record = await meeting_for(svc, who, AccountAction.READ_MEETING_AUDIT, meeting_id)
    return [event.public() for event in await svc.audit.events(record.id)]


def _account(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "is_admin": account.is_admin,
        "email_verified": account.email_verified,
    }


@router.get("/admin/accounts/unverified", responses=responses(*SIGNED_IN, 403))
async def unverified_accounts(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.LIST_UNVERIFIED_ACCOUNTS)]
) -> list[dict[str, object]]:
    """Accounts whose address nobody proved yet, oldest first (instance admin only)."""
    return [_account(account) for account in await svc.users.unverified()]


@router.post("/admin/accounts/{user_id}/verify", responses=responses(*SIGNED_IN, *WRITE, 404))
async def verify_account(
    user_id: RowId,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.VERIFY_ACCOUNT)],
) -> dict[str, object]:
    """The instance admin vouches for an account's address: the way to verify addresses on a
    server without ``--smtp-url``, and for a mail that never arrived. The admin's own account
    too: the admin controls the instance, so vouching for oneself grants nothing new, but it is
    an explicit act, never automatic for the first account (whoever reaches a fresh instance
    first becomes its admin; that proves nothing about their address)."""
    account = await svc.users.mark_verified(user_id)
    if account is None:
        raise HTTPException(404, detail="no such account")
    log.info("admin %d verified the address of account %d", who.account.id, account.id)
    return _account(account)
