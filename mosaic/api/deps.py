"""Dependencies injected into routes: the node's services and who is calling.

Two credentials, each for its own kind of client:

- A browser holds the session cookie. Its writes must come from our own pages: an ``Origin``
  of this site (or, when a browser strips it, ``Sec-Fetch-Site: same-origin``) *and* the
  session's CSRF token in ``X-CSRF-Token`` (the double-submit pattern: a page of another site
  can make the browser send the cookie, but cannot read the token to put it in a header). A
  write that names no origin at all comes from no page: a script, which uses the second
  credential. The database keeps only the tokens' SHA-256.
- A script holds a personal API token (`mosaic.store.tokens`), sent as
  ``Authorization: Bearer``: nothing sends it by itself, so it needs no CSRF token and no
  Origin; it reaches only the routes its scopes allow, never the token routes nor the
  admin's.

Which credential reaches which route, and which account may act on which meeting, is
decided by `mosaic.domain.accounts`; this module only finds out who calls and turns the
domain's refusals into HTTP answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from mosaic.domain.accounts import AccountAction, Caller, Hosted, Verdict, decide, needed_scope
from mosaic.domain.ids import normalize_meeting_id
from mosaic.services import Services
from mosaic.store.meetings import MeetingRecord
from mosaic.store.tokens import TokenHolder
from mosaic.store.users import Account
from mosaic.web_security import same_origin_write

SESSION_COOKIE = "mosaic_session"
CSRF_COOKIE = "mosaic_csrf"
CSRF_HEADER = "x-csrf-token"
AUTHORIZATION = "authorization"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


async def _session_account(request: Request, svc: Services) -> Account | None:
    """The account of the session cookie, its writes held to our origin and CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    session = await svc.users.session_user(token)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        if not same_origin_write(request.scope, svc.settings.base_url):
            raise HTTPException(
                403,
                detail="a write with the session cookie must come from this site's pages"
                " (Origin); scripts use an API token",
            )
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or len(sent) > 128 or not session.csrf_matches(sent):
            raise HTTPException(403, detail="missing or wrong CSRF token")
    return session.account


async def _token_holder(request: Request, svc: Services) -> TokenHolder:
    scheme, _, token = request.headers.get(AUTHORIZATION, "").partition(" ")
    token = token.strip()
    holder = None
    if scheme.lower() == "bearer" and token and len(token) <= 128:
        holder = await svc.tokens.holder(token)
    if holder is None:
        raise HTTPException(
            401,
            detail="unknown or revoked API token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return holder


@dataclass(frozen=True, slots=True)
class Authorized:
    """A caller the domain let through: their account, and who they are to the domain."""

    account: Account
    caller: Caller


async def _caller(request: Request, svc: Services) -> Authorized:
    """Who calls, by API token (401 if unknown or revoked) or browser session (its writes
    held to our origin and CSRF token; 401 without one). Decides nothing else."""
    if AUTHORIZATION in request.headers:
        holder = await _token_holder(request, svc)
        account = holder.account
        return Authorized(account, Caller(account.id, account.is_admin, holder.scopes))
    session_account = await _session_account(request, svc)
    if session_account is None:
        raise HTTPException(401, detail="sign in first")
    return Authorized(session_account, Caller(session_account.id, session_account.is_admin))


def refusal(verdict: Verdict, action: AccountAction) -> HTTPException:
    """The HTTP answer to the domain's refusal of ``action``."""
    if verdict is Verdict.SESSION_ONLY:
        return HTTPException(403, detail="API tokens do not reach this route: sign in")
    if verdict is Verdict.MISSING_SCOPE:
        return HTTPException(403, detail=f"this API token lacks the {needed_scope(action)} scope")
    if verdict is Verdict.ADMIN_ONLY:
        return HTTPException(403, detail="for the instance admin only")
    assert verdict is Verdict.NOT_YOURS
    return HTTPException(404, detail="no such meeting")


def permit(action: AccountAction) -> Any:
    """The dependency a route declares its action with, as
    ``who: Annotated[Authorized, permit(action)]``: the caller, once
    `mosaic.domain.accounts.decide` let them do ``action`` (judged on the caller alone; a route
    on a meeting asks again with it, see `meeting_for`). The action is kept on the dependency,
    so that a test reads which rule decides each route from the app itself."""

    async def allowed(request: Request, svc: ServicesDep) -> Authorized:
        who = await _caller(request, svc)
        verdict = decide(who.caller, action)
        if verdict is not Verdict.ALLOWED:
            raise refusal(verdict, action)
        return who

    allowed.account_action = action  # type: ignore[attr-defined]
    return Depends(allowed)


async def meeting_for(
    svc: Services, who: Authorized, action: AccountAction, meeting_id: str
) -> MeetingRecord:
    """The stored meeting ``action`` is about, if the domain lets ``who`` touch it; a 404
    otherwise, the same as for a meeting that does not exist (IDs cannot be probed here)."""
    canonical = normalize_meeting_id(meeting_id)
    record = await svc.meetings.get(canonical) if canonical else None
    if record is None:
        raise HTTPException(404, detail="no such meeting")
    verdict = decide(who.caller, action, Hosted(record.host_user_id))
    if verdict is not Verdict.ALLOWED:
        raise refusal(verdict, action)
    return record
