"""The OpenAPI document is a contract: schemathesis generates requests from /openapi.json
(valid and invalid bodies, paths and parameters) and sends them to a real `mosaic serve`,
signed out, signed in as a browser would be (session cookie, CSRF token, our Origin), and
with a personal API token as a script would be.
Every answer must be no server error, carry a status the document declares for that route,
match the schema it declares (the one `ErrorBody` for every error), and carry the headers it
declares (``Retry-After`` on a 429).

Bounded and repeatable: a few derandomized examples per route (hypothesis picks the same
ones on every run), no example database, on a server of its own whose throttles are lifted
(the throttles have tests of their own; here they would only turn answers into 429s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.server import MosaicServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PASSWORD = "correct horse battery staple"
EXAMPLES_PER_ROUTE = 10
# The whole module's budget (about 20 routes, two modes, three callers each).
BUDGET_S = 60.0


class Contract:
    """The server under test, and a host signed in on it as the web client is."""

    def __init__(self, server: MosaicServer) -> None:
        self.server = server
        self.started = time.monotonic()
        self.email = "contract-host@example.org"
        with httpx.Client(base_url=server.url) as client:
            body = {"name": "Contract host", "email": self.email, "password": PASSWORD}
            assert client.post("/api/auth/signup", json=body).status_code == 202
        self.sign_in()
        self.make_token()

    def sign_in(self) -> None:
        with httpx.Client(base_url=self.server.url) as client:
            response = client.post(
                "/api/auth/login", json={"email": self.email, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.cookies = dict(client.cookies.items())
        self.headers = {"X-CSRF-Token": self.cookies["mosaic_csrf"], "Origin": self.server.url}

    def make_token(self) -> None:
        """A personal API token with every scope, as a script would hold."""
        with httpx.Client(base_url=self.server.url, cookies=self.cookies) as client:
            # Room for it: the generated examples make tokens too, up to the account's limit.
            for old in client.get("/api/tokens").json():
                client.delete(f"/api/tokens/{old['id']}", headers=self.headers)
            response = client.post(
                "/api/tokens",
                json={"name": "contract", "scopes": ["meetings:read", "meetings:write"]},
                headers=self.headers,
            )
            assert response.status_code == 201, response.text
        self.token_id = response.json()["id"]
        self.bearer = {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    server = MosaicServer(
        tmp_path_factory.mktemp("contract"),
        "--join-rate-per-minute", "1000000",
        "--join-free-failures", "1000000",
        "--signups-per-hour", "1000000",
        # An admin's policy, so that refusing a host's settings is part of the run.
        "--require-passcode", "true",
    ).start()  # fmt: skip
    yield Contract(server)
    status = server.stop()
    assert status == 0, server.log[-3000:]


def _check(case: Any, contract: Contract, failures: list[str]) -> None:
    base_url = contract.server.url
    callers = (
        ("signed out", {}, {"Origin": base_url}),  # what any stranger's script meets
        ("signed in", contract.cookies, contract.headers),  # the web client's credentials
        ("token", {}, contract.bearer),  # a script's personal API token
    )
    for who, cookies, headers in callers:
        response = case.call(base_url=base_url, cookies=cookies, headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{case.operation.label}, {who}: {failure}")
            raise
        if who == "signed in" and case.operation.path == "/api/auth/logout":
            contract.sign_in()  # the next examples are signed in again
        revoked = (case.path_parameters or {}).get("token_id") == contract.token_id
        if who == "signed in" and revoked and response.status_code == 204:
            contract.make_token()  # the examples revoked the contract's own token


def test_every_answer_is_declared_by_the_openapi_document(contract: Contract) -> None:
    schema = schemathesis.openapi.from_url(contract.server.url + "/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [operation.label for operation in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_ROUTE,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report, not minimise
            )
            def examples(case: Any) -> None:
                _check(case, contract, failures)

            # Schemathesis raises a group of what failed (not always an Exception); a route's
            # first failure ends its run, and the next route goes on.
            try:
                examples()
            except Unsatisfiable:
                pass  # no invalid input exists for a route without parameters or body
            except (Exception, BaseExceptionGroup) as error:
                if not failures or operation.label not in failures[-1]:
                    failures.append(f"{operation.label} ({mode.value}): {error!r}")
    elapsed = time.monotonic() - contract.started
    assert not failures, "\n\n".join(failures[:5])
    assert elapsed < BUDGET_S, f"the contract run took {elapsed:.0f} s, past its budget"
