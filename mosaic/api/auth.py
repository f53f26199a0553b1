"""Accounts: sign up, sign in, sign out, who am I."""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mosaic.api.deps import CSRF_COOKIE, SESSION_COOKIE, CurrentUser, ServicesDep
from mosaic.security.hashing import hash_secret, needs_rehash, verify_secret
from mosaic.signaling.protocol import clean_name
from mosaic.store.users import SESSION_LIFETIME, Account, EmailTaken

router = APIRouter(prefix="/api", tags=["accounts"])

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Name = Annotated[str, Field(max_length=256), AfterValidator(clean_name)]


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    email: Email
    password: str = Field(min_length=10, max_length=256)


class LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    is_admin: bool

    @classmethod
    def of(cls, account: Account) -> UserOut:
        return cls(id=account.id, name=account.name, email=account.email, is_admin=account.is_admin)


def _set_session_cookies(response: Response, request: Request, token: str, csrf: str) -> None:
    secure = request.app.state.services.settings.secure
    max_age = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    # Readable by our own scripts, which echo it in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )


async def _start_session(
    request: Request, response: Response, svc: ServicesDep, user_id: int
) -> None:
    # A fresh token at every sign-in (session fixation), and the old one is ended.
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await svc.users.end_session(old)
    token, csrf = await svc.users.start_session(user_id)
    _set_session_cookies(response, request, token, csrf)


@router.post("/auth/signup", status_code=201, response_model=UserOut)
async def signup(body: SignUp, request: Request, response: Response, svc: ServicesDep) -> UserOut:
    """Create an account and sign in. The first account of an instance is its admin."""
    try:
        account = await svc.users.create(body.name, body.email, await hash_secret(body.password))
    except EmailTaken:
        raise HTTPException(409, detail="an account with this e-mail address exists") from None
    await _start_session(request, response, svc, account.id)
    return UserOut.of(account)


@router.post("/auth/login", response_model=UserOut)
async def login(body: LogIn, request: Request, response: Response, svc: ServicesDep) -> UserOut:
    throttle = svc.login_throttle
    now = time.monotonic()
    address = request.client.host if request.client else "?"
    keys = ("addr:" + address, "account:" + body.email)
    for key in keys:
        wait = throttle.retry_after(key, now)
        if wait > 0:
            raise HTTPException(
                429,
                detail="too many sign-in attempts",
                headers={"Retry-After": str(round(wait) + 1)},
            )
    found = await svc.users.credentials(body.email)
    stored_hash = found[1] if found else None
    if not await verify_secret(stored_hash, body.password) or found is None:
        for key in keys:
            throttle.failed(key, time.monotonic())
        raise HTTPException(401, detail="wrong e-mail address or password")
    account, stored_hash = found
    for key in keys:
        throttle.succeeded(key)
    if needs_rehash(stored_hash):
        await svc.users.set_password_hash(account.id, await hash_secret(body.password))
    await _start_session(request, response, svc, account.id)
    return UserOut.of(account)


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, svc: ServicesDep, user: CurrentUser) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await svc.users.end_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
