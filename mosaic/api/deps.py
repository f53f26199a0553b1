"""Dependencies injected into routes: the node's services and the signed-in user.

Cookie-authenticated writes must carry the session's CSRF token in ``X-CSRF-Token`` (the
double-submit pattern: a page of another site can make the browser send the cookie, but cannot
read the token to put it in a header). The database keeps only the token's SHA-256, like the
session token's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from mosaic.services import Services
from mosaic.store.users import Account, SignedIn

SESSION_COOKIE = "mosaic_session"
CSRF_COOKIE = "mosaic_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


async def signed_in(request: Request, svc: ServicesDep) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    return await svc.users.session_user(token)


async def optional_user(
    request: Request, session: Annotated[SignedIn | None, Depends(signed_in)]
) -> Account | None:
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or len(sent) > 128 or not session.csrf_matches(sent):
            raise HTTPException(403, detail="missing or wrong CSRF token")
    return session.account


async def current_user(user: Annotated[Account | None, Depends(optional_user)]) -> Account:
    if user is None:
        raise HTTPException(401, detail="sign in first")
    return user


CurrentUser = Annotated[Account, Depends(current_user)]
OptionalUser = Annotated[Account | None, Depends(optional_user)]
