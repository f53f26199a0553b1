"""Accounts: sign up, sign in, sign out, who am I, verify my address."""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mosaic import accounts
from mosaic.api.deps import CSRF_COOKIE, SESSION_COOKIE, Authorized, ServicesDep, permit
from mosaic.api.errors import SIGNED_IN, WRITE, responses
from mosaic.domain.accounts import AccountAction
from mosaic.domain.text import clean_name
from mosaic.security.hashing import hash_secret, needs_rehash, verify_secret
from mosaic.security.passwords import MAX_LENGTH, MESSAGES, weakness
from mosaic.security.throttle import Refused, source_key
from mosaic.store.users import SESSION_LIFETIME, Account

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["accounts"])

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


EMAIL_FORMAT = {"format": "email"}
Email = Annotated[
    str, Field(max_length=254, json_schema_extra=EMAIL_FORMAT), AfterValidator(_email)
]
Name = Annotated[str, Field(max_length=256), AfterValidator(clean_name)]


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    email: Email
    # The length floor and the rest of the password rules are in `security.passwords`, so that
    # every refusal of a password has one typed shape (422 ``weak_password``).
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class SignUpAccepted(BaseModel):
    """The one answer to every valid sign-up, whether the address was free or not."""

    status: str = "accepted"
    # "mail": a link was (or would be) mailed; "admin": this server sends no mail, the
    # instance admin verifies addresses.
    verification: str
    detail: str


class LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: int
    name: str
    email: str = Field(json_schema_extra=EMAIL_FORMAT)
    is_admin: bool
    # Until then, the account satisfies no e-mail domain rule and no "signed-in users only".
    email_verified: bool = False
    # In /api/me: how this server verifies addresses, "mail" (a link) or "admin" (no mail).
    verification_by: str | None = None

    @classmethod
    def of(cls, account: Account) -> UserOut:
        return cls(
            id=account.id,
            name=account.name,
            email=account.email,
            is_admin=account.is_admin,
            email_verified=account.email_verified,
        )


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


@router.post(
    "/auth/signup",
    status_code=202,
    response_model=SignUpAccepted,
    responses=responses(*WRITE, 429),
)
async def signup(body: SignUp, request: Request, svc: ServicesDep) -> SignUpAccepted:
    """Create an account (the first of an instance is its admin), or, for an address that has
    one, tell its owner by mail. The answer is the same either way (status, body, no cookie,
    about the same time: see `mosaic.accounts`), so this route does not reveal who has an
    account. It does not sign in: the web client signs in next with the same password,
    which succeeds for a new account and fails like any wrong password otherwise.

    Throttled per client address (an IPv6 /64 counts as one), before any work; a weak
    password is refused (422 ``weak_password``) before the address is even looked at."""
    address = source_key(request.client.host if request.client else "?")
    wait = await svc.signup_throttle.retry_after("addr:" + address)
    if wait > 0:
        raise HTTPException(
            429, detail="too many sign-ups", headers={"Retry-After": str(round(wait) + 1)}
        )
    problem = weakness(body.password, email=body.email, name=body.name)
    if problem is not None:
        raise HTTPException(
            422,
            # The shape of every validation error (docs/protocol.md), the reason in ``ctx``.
            detail=[
                {
                    "type": "weak_password",
                    "loc": ["body", "password"],
                    "msg": MESSAGES[problem],
                    "ctx": {"reason": problem.value},
                }
            ],
        )
    await accounts.sign_up(svc, body.name, body.email, body.password)
    if svc.mailer is not None:
        return SignUpAccepted(
            verification="mail",
            detail="sign in with your password; a mail to this address says what comes next",
        )
    return SignUpAccepted(
        verification="admin",
        detail="sign in with your password; this server's admin verifies e-mail addresses",
    )


@router.post("/auth/login", response_model=UserOut, responses=responses(*WRITE, 401, 429))
async def login(body: LogIn, request: Request, response: Response, svc: ServicesDep) -> UserOut:
    """Sign in. The client address (an IPv6 /64 counts as one) is refused up front once its
    free failures are spent; the account never is: guessing it from many addresses only
    slows the wrong answers (see `mosaic.security.throttle.Gate`), so a flood of wrong
    passwords does not lock the owner out. Each attempt counts as a failure before the
    password is even checked, so concurrent guesses cannot slip through together."""
    address = source_key(request.client.host if request.client else "?")
    try:
        reservation = await svc.login_throttle.acquire("addr:" + address)
    except Refused as refused:
        raise _too_many(refused) from None
    async with reservation:
        try:
            async with svc.login_gate.turn("account:" + body.email, rank=reservation.rank) as turn:
                found = await svc.users.credentials(body.email)
                stored_hash = found[1] if found else None
                if await verify_secret(stored_hash, body.password) and found is not None:
                    await turn.succeeded()
                elif await turn.failed() and found is not None:
                    log.warning(
                        "sign-in guessing on account %s: %d wrong passwords lately",
                        found[0].id,
                        turn.recent_failures,
                    )
        except Refused as refused:
            raise _too_many(refused) from None
        if not turn.ok or found is None:
            raise HTTPException(401, detail="wrong e-mail address or password")
        await reservation.succeeded(forgive=True)
    account, stored_hash = found
    if needs_rehash(stored_hash):
        await svc.users.set_password_hash(account.id, await hash_secret(body.password))
    await _start_session(request, response, svc, account.id)
    return UserOut.of(account)


def _too_many(refused: Refused) -> HTTPException:
    return HTTPException(
        429,
        detail="too many sign-in attempts",
        headers={"Retry-After": str(math.ceil(refused.retry_after))},
    )


@router.post("/auth/logout", status_code=204, responses=responses(*SIGNED_IN, *WRITE))
async def logout(
    request: Request,
    response: Response,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.SIGN_OUT)],
) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await svc.users.end_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=UserOut, responses=responses(401))
async def me(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.SEE_SELF)]
) -> UserOut:
    by = "mail" if svc.mailer is not None else "admin"
    return UserOut.of(who.account).model_copy(update={"verification_by": by})


class VerifyToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=16, max_length=128)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


@router.post("/auth/verify", response_model=UserOut, responses=responses(400, *WRITE))
async def verify(body: VerifyToken, svc: ServicesDep) -> UserOut:
    """Follow a mailed link: the page at ``/verify`` posts its token here with the password
    chosen at sign-up (see `Users.email_token_password`: the mailbox's owner alone cannot
    verify somebody else's account by one careless click, and a mail scanner that fetches
    links verifies nothing). Single use; a wrong password does not use the link up (guessing
    needs the link, which only the mailbox has)."""
    expected = await svc.users.email_token_password(body.token)
    if expected is None:
        raise HTTPException(400, detail="this link is invalid, used or expired")
    if not await verify_secret(expected, body.password):
        raise HTTPException(403, detail="this is not the password chosen at sign-up")
    account = await svc.users.redeem_email_token(body.token)
    if account is None:
        raise HTTPException(400, detail="this link is invalid, used or expired")
    return UserOut.of(account)


@router.post(
    "/auth/verification", status_code=202, responses=responses(*SIGNED_IN, *WRITE, 409, 429)
)
async def resend_verification(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.RESEND_VERIFICATION)]
) -> dict[str, str]:
    """Mail a fresh verification link to the signed-in account's address."""
    user = who.account
    if user.email_verified:
        raise HTTPException(409, detail="your address is verified already")
    if svc.mailer is None:
        raise HTTPException(
            409, detail="this server sends no mail: ask its admin to verify your address"
        )
    if not await accounts.send_verification(svc, user):
        raise HTTPException(
            429,
            detail="a link was mailed recently; check your mailbox",
            # The mail throttle (`Services.mail_throttle`) gives back one link every 20 min.
            headers={"Retry-After": "1200"},
        )
    return {"status": "sent"}
