"""Every REST route is decided by the domain (`mosaic.domain.accounts`), or is public for a
stated reason; and the domain's answers are what an attacker gets over HTTP.

The routes are read from the application itself, so a route added without an entry in
`ROUTE_RULES` fails `test_every_http_route_has_exactly_one_rule`, and so does a route whose
handler does not ask the rule its entry names."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from mosaic.app import create_app
from mosaic.config import Settings
from mosaic.domain.accounts import RULES, AccountAction, Reach
from mosaic.domain.scopes import Scope
from tests.helpers.api import Account, signup


@dataclass(frozen=True)
class Public:
    """A route that asks for no account, and why that is right."""

    why: str


Rule = AccountAction | Public

# (method, path) -> what decides it. The one list; the routes themselves come from the app.
ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/api/auth/signup"): Public("making an account; throttled per address"),
    ("POST", "/api/auth/login"): Public("signing in; throttled per address and per account"),
    ("POST", "/api/auth/verify"): Public("a mailed single-use link plus the sign-up password"),
    ("POST", "/api/auth/logout"): AccountAction.SIGN_OUT,
    ("GET", "/api/me"): AccountAction.SEE_SELF,
    ("POST", "/api/auth/verification"): AccountAction.RESEND_VERIFICATION,
    ("POST", "/api/meetings"): AccountAction.CREATE_MEETING,
    ("GET", "/api/meetings"): AccountAction.LIST_MEETINGS,
    ("GET", "/api/meetings/{meeting_id}"): AccountAction.READ_MEETING,
    ("PATCH", "/api/meetings/{meeting_id}"): AccountAction.EDIT_MEETING,
    ("DELETE", "/api/meetings/{meeting_id}"): AccountAction.DELETE_MEETING,
    ("GET", "/api/meetings/{meeting_id}/audit"): AccountAction.READ_MEETING_AUDIT,
    ("GET", "/api/meetings/{meeting_id}/recordings"): AccountAction.LIST_RECORDINGS,
    ("GET", "/api/meetings/{meeting_id}/recordings/{recording_id}"): (
        AccountAction.DOWNLOAD_RECORDING
    ),
    ("DELETE", "/api/meetings/{meeting_id}/recordings/{recording_id}"): (
        AccountAction.DELETE_RECORDING
    ),
    ("GET", "/api/admin/reports"): AccountAction.READ_REPORTS,
    ("GET", "/api/admin/accounts/unverified"): AccountAction.LIST_UNVERIFIED_ACCOUNTS,
    ("POST", "/api/admin/accounts/{user_id}/verify"): AccountAction.VERIFY_ACCOUNT,
    ("POST", "/api/tokens"): AccountAction.MINT_TOKEN,
    ("GET", "/api/tokens"): AccountAction.LIST_TOKENS,
    ("DELETE", "/api/tokens/{token_id}"): AccountAction.REVOKE_TOKEN,
    ("GET", "/"): Public("the home page: the same static file for everyone"),
    ("GET", "/recordings"): Public(
        "the same page for everyone; the list comes from the REST API, host and admin only"
    ),
    ("GET", "/verify"): Public("the page a mailed link opens; the token stays in the fragment"),
    ("GET", "/m/{meeting_id}"): Public(
        "the same page for every meeting; only a (throttled) join tells whether one exists"
    ),
    ("GET", "/healthz"): Public("a load balancer's probe; says nothing but ok"),
    ("GET", "/metrics"): Public(
        "aggregate counters, no names or ids; operators keep it off the internet"
    ),
    ("GET", "/openapi.json"): Public("the API's description, the same for everyone"),
}


def _http_routes() -> Iterator[tuple[str, str, Any]]:
    """(method, path, route) for every HTTP route of the app, as it serves them. HEAD is
    GET's shadow; the WebSocket (decided by `mosaic.domain.permissions`) and /static
    (files) are not REST routes."""
    for context in iter_route_contexts(create_app(Settings()).routes):
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                yield method, context.path, context.original_route


def _asked(dependant: Dependant) -> list[AccountAction]:
    """The actions a route's dependencies ask the domain about (`mosaic.api.deps.permit`)."""
    asked = []
    for dependency in dependant.dependencies:
        action = getattr(dependency.call, "account_action", None)
        if action is not None:
            asked.append(action)
        asked.extend(_asked(dependency))
    return asked


def test_every_http_route_has_exactly_one_rule() -> None:
    served = {(method, path): route for method, path, route in _http_routes()}
    assert set(served) - set(ROUTE_RULES) == set(), "a route without an entry in ROUTE_RULES"
    assert set(ROUTE_RULES) - set(served) == set(), "an entry for a route that is gone"
    for key, route in served.items():
        rule = ROUTE_RULES[key]
        asked = _asked(route.dependant) if isinstance(route, APIRoute) else []
        if isinstance(rule, Public):
            assert asked == [], (key, rule.why)
            continue
        assert asked == [rule], key
        if RULES[rule].meeting is not None:
            # The meeting itself is judged too: the handler looks it up through the domain.
            assert "{meeting_id}" in key[1], key
            source = inspect.getsource(route.endpoint)
            assert f"meeting_for(svc, who, AccountAction.{rule.name}" in source, key


def test_every_account_rule_decides_some_route() -> None:
    """No rule of the domain is dead: each decides at least one route."""
    assert {rule for rule in ROUTE_RULES.values() if isinstance(rule, AccountAction)} == set(
        AccountAction
    )


# -- what an attacker gets ------------------------------------------------------------------

# Bodies valid enough that only the rule can refuse them.
_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/meetings"): {},
    ("PATCH", "/api/meetings/{meeting_id}"): {"topic": "taken over"},
    ("POST", "/api/tokens"): {"name": "mine now", "scopes": ["meetings:read"]},
}


async def _call(
    client: httpx.AsyncClient, method: str, path: str, ids: dict[str, str], **headers: str
) -> httpx.Response:
    body = _BODIES.get((method, path))
    return await client.request(method, path.format(**ids), json=body, headers=headers or None)


def _routes_where(test: Any) -> list[tuple[str, str]]:
    return [
        key
        for key, rule in ROUTE_RULES.items()
        if isinstance(rule, AccountAction) and test(RULES[rule])
    ]


@pytest.fixture
async def accounts(make_server: Any) -> Any:
    """A fresh server: its first account is the admin; then a host and a stranger."""
    server = make_server()
    admin = await signup(server.url)
    host = await signup(server.url)
    stranger = await signup(server.url)
    yield admin, host, stranger
    for account in (admin, host, stranger):
        await account.client.aclose()


async def _token(account: Account, *scopes: Scope) -> dict[str, str]:
    response = await account.post("/api/tokens", {"name": "script", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_attacks_on_every_route_get_the_domains_refusal(
    accounts: tuple[Account, Account, Account],
) -> None:
    """For each route the domain decides, the attack its rule forbids, over real HTTP: another
    account's meeting (404, as for no meeting, and the meeting is untouched); a non-admin on
    the admin's routes (403); the admin's own token, with every scope, on a session-only
    route (403); a token lacking the route's scope (403)."""
    admin, host, stranger = accounts
    meeting = await host.create_meeting("the host's")
    host_id = (await host.client.get("/api/me")).json()["id"]
    ids = {
        "meeting_id": meeting["id"],
        "user_id": str(host_id),
        "token_id": "1",
        "recording_id": "r" + "0" * 24,
    }

    for method, path in _routes_where(lambda rule: rule.meeting is not None):
        answer = await _call(stranger.client, method, path, ids, **stranger.csrf)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == "no such meeting"
    kept = await host.client.get(f"/api/meetings/{meeting['id']}")
    assert kept.status_code == 200 and kept.json()["topic"] == "the host's"
    # The admin reads any meeting's audit trail, and changes no one else's meeting.
    assert (await admin.client.get(f"/api/meetings/{meeting['id']}/audit")).status_code == 200
    assert (await admin.delete(f"/api/meetings/{meeting['id']}")).status_code == 404

    for method, path in _routes_where(lambda rule: rule.admin_only):
        answer = await _call(host.client, method, path, ids, **host.csrf)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["detail"] == "for the instance admin only"
    assert (await host.client.get("/api/me")).json()["email_verified"] is False

    every_scope = await _token(admin, *Scope)
    async with httpx.AsyncClient(base_url=str(host.client.base_url)) as script:
        for method, path in _routes_where(lambda rule: rule.reach is Reach.SESSION):
            answer = await _call(script, method, path, ids, **every_scope)
            assert answer.status_code == 403, (method, path, answer.text)
            assert "API tokens do not reach this route" in answer.json()["detail"]

        lacking = {needed: await _token(host, *(set(Scope) - {needed})) for needed in Scope}
        for method, path in _routes_where(lambda rule: rule.reach is Reach.SCOPED):
            needed = RULES[ROUTE_RULES[method, path]].scope  # type: ignore[index]
            assert needed is not None
            answer = await _call(script, method, path, ids, **lacking[needed])
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["detail"] == f"this API token lacks the {needed} scope"
    assert len((await host.client.get("/api/meetings")).json()) == 1
