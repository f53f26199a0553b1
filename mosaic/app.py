"""Builds the ASGI application: routes, the signaling endpoint, security headers, and the
lifespan that starts and stops the node's services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from mosaic import __version__
from mosaic.api import admin, auth, errors, meetings, pages, recordings, tokens
from mosaic.api.deps import SESSION_COOKIE
from mosaic.config import Settings
from mosaic.domain.access import Visitor
from mosaic.metrics import LoopLag, refresh_cluster_metrics, registry_for
from mosaic.security.device import DEVICE_COOKIE, DeviceCookieMiddleware
from mosaic.services import Services
from mosaic.signaling.protocol import SUBPROTOCOL
from mosaic.signaling.rooms import MediaFactory
from mosaic.signaling.session import Session
from mosaic.signaling.socket_cap import SocketCap
from mosaic.signaling.sockets import WebSocketChannel
from mosaic.web_input import BodyGuard
from mosaic.web_security import SecurityHeaders, allowed_origins, request_origin

log = logging.getLogger(__name__)


def create_app(settings: Settings, media_factory: MediaFactory | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await Services.start(settings, media_factory)
        services.start_housekeeping()
        lag = LoopLag()
        lag.start()
        app.state.services = services
        app.state.metrics, app.state.cluster_metrics = registry_for(services, lag)
        try:
            yield
        finally:
            lag.stop()
            await services.close()

    app = _MosaicApp(
        title="Mosaic",
        version=__version__,
        summary="Self-hostable video meetings",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Open signaling sockets per client address (see mosaic.signaling.socket_cap).
        middleware=[Middleware(SocketCap, per_address=settings.websockets_per_address)],
    )
    for router in (
        auth.router,
        meetings.router,
        admin.router,
        tokens.router,
        recordings.router,
        pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.WEB), name="static")

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> dict[str, str]:
        """Alive; in cluster mode also which worker answered (load balancers and tests)."""
        cluster = request.app.state.services.cluster
        return {"status": "ok"} | ({"worker": cluster.worker_id} if cluster else {})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format: meetings, participants, streams, packets, repairs,
        refused joins by reason, event-loop lag; in cluster mode every live worker's load."""
        await refresh_cluster_metrics(request.app.state.cluster_metrics)
        return PlainTextResponse(
            generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST
        )

    @app.websocket("/ws")
    async def signaling(websocket: WebSocket) -> None:
        """One participant's signaling connection (protocol ``mosaic.v1``, docs/protocol.md)."""
        scope = websocket.scope
        origin = request_origin(scope)
        if origin is not None and origin not in allowed_origins(settings.base_url, scope):
            # Cross-site WebSocket hijacking: a page elsewhere cannot ride a user's cookie here.
            await websocket.close(code=1008)
            return
        if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.close(code=1002)
            return
        services: Services = websocket.app.state.services
        visitor = Visitor()
        token = websocket.cookies.get(SESSION_COOKIE)
        if token and len(token) <= 128:
            signed_in = await services.users.session_user(token)
            if signed_in is not None:
                account = signed_in.account
                visitor = Visitor(
                    user_id=account.id,
                    email=account.email,
                    email_verified=account.email_verified,
                )
        address = websocket.client.host if websocket.client else "?"
        # Removals hold on what the client cannot choose: the server-signed device cookie
        # (issued here in the handshake's answer to a client that has none) and the address.
        devices = services.devices
        device = devices.read(websocket.cookies.get(DEVICE_COOKIE))
        accept_headers = []
        if device is None:
            device, set_cookie = devices.issue()
            accept_headers.append((b"set-cookie", set_cookie.encode()))
        visitor = replace(
            visitor,
            device_id=devices.device_pseudonym(device),
            address=devices.address_pseudonym(address),
        )
        await _serve_signaling(
            services, WebSocketChannel(websocket, accept_headers), visitor, address
        )

    errors.install(app)
    app.add_middleware(DeviceCookieMiddleware)
    app.outermost = lambda inner: SecurityHeaders(BodyGuard(inner), base_url=settings.base_url)
    return app


async def _serve_signaling(
    services: Services, socket: WebSocketChannel, visitor: Visitor, address: str
) -> None:
    """A session here; in cluster mode, here or on the meeting's home worker (relayed)."""
    if services.signaling is not None:
        await services.signaling.serve(socket, visitor, address)
        return
    await Session(
        socket,
        services.door,
        visitor,
        address,
        join_deadline_s=services.settings.join_deadline_s,
    ).run()


class _MosaicApp(FastAPI):
    """FastAPI with `outermost` middleware around the *whole* stack.

    ``add_middleware`` puts a middleware inside Starlette's error middleware, so a 500 (and
    anything answered further out) would leave without the security headers; the body guard
    must also run before anything reads a body."""

    outermost: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.outermost(stack) if self.outermost is not None else stack
