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
  Origin; it reaches only the routes its scopes allow (`mosaic.domain.scopes`), never the
  token routes nor the admin's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from mosaic.domain.scopes import Scope, allows
from mosaic.services import Services
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


async def current_user(request: Request, svc: ServicesDep) -> Account:
    """A signed-in browser's account: for the routes no API token reaches."""
    if AUTHORIZATION in request.headers:
        await _token_holder(request, svc)  # a wrong token is told it is wrong (401)
        raise HTTPException(403, detail="API tokens do not reach this route: sign in")
    account = await _session_account(request, svc)
    if account is None:
        raise HTTPException(401, detail="sign in first")
    return account


def token_or_session(needed: Scope | None) -> Callable[..., Awaitable[Account]]:
    """A dependency: the caller's account, by API token holding ``needed`` (None: any
    valid token) or by a browser session."""

    async def caller(request: Request, svc: ServicesDep) -> Account:
        if AUTHORIZATION in request.headers:
            holder = await _token_holder(request, svc)
            if needed is not None and not allows(holder.scopes, needed):
                raise HTTPException(403, detail=f"this API token lacks the {needed} scope")
            return holder.account
        account = await _session_account(request, svc)
        if account is None:
            raise HTTPException(401, detail="sign in first")
        return account

    return caller


CurrentUser = Annotated[Account, Depends(current_user)]
AnyCaller = Annotated[Account, Depends(token_or_session(None))]
MeetingsReader = Annotated[Account, Depends(token_or_session(Scope.MEETINGS_READ))]
MeetingsWriter = Annotated[Account, Depends(token_or_session(Scope.MEETINGS_WRITE))]
