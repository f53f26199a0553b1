"""REST shortcuts against a running server, as the web client makes them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

_counter = itertools.count(1)


@dataclass
class Account:
    client: httpx.AsyncClient
    name: str
    email: str
    password: str

    @property
    def cookies(self) -> dict[str, str]:
        return {k: v for k, v in self.client.cookies.items()}

    @property
    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.client.cookies.get("mosaic_csrf", "")}

    async def post(self, path: str, json: Any = None) -> httpx.Response:
        return await self.client.post(path, json=json, headers=self.csrf)

    async def patch(self, path: str, json: Any = None) -> httpx.Response:
        return await self.client.patch(path, json=json, headers=self.csrf)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(path, headers=self.csrf)

    async def create_meeting(self, topic: str = "Test meeting", **settings: Any) -> dict[str, Any]:
        response = await self.post("/api/meetings", {"topic": topic, "settings": settings})
        assert response.status_code == 201, response.text
        return response.json()


async def signup(
    base_url: str,
    name: str | None = None,
    *,
    email: str | None = None,
    password: str = "correct horse battery staple",
) -> Account:
    number = next(_counter)
    name = name or f"Host {number}"
    email = email or f"user{number}-{id(object())}@example.org"
    # Like the web client's fetch(): a browser names its page's origin on every write.
    client = httpx.AsyncClient(base_url=base_url, headers={"Origin": base_url})
    # As the web client does: sign-up answers 202 without signing in, then sign in.
    response = await client.post(
        "/api/auth/signup", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 202, response.text
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Account(client, name, email, password)


async def verify_as_admin(admin: Account, account: Account) -> None:
    """The instance admin vouches for ``account``'s address (servers without mail)."""
    me = (await account.client.get("/api/me")).json()
    response = await admin.post(f"/api/admin/accounts/{me['id']}/verify")
    assert response.status_code == 200, response.text
