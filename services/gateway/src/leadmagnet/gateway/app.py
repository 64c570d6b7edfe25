"""The gateway's Starlette application."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadmagnet.common.logging import get_logger
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings, get_settings

from .api import ErrorBody, ErrorInfo
from .headers import with_security_headers
from .openapi import build_openapi
from .pages import page_routes
from .routes import api
from .server_spans import ServerSpanMiddleware
from .ws import websocket_routes

log = get_logger()


class RequestContextMiddleware:
    """Request id, structured access log line, and the security headers of every response
    (the one place they are applied: see ``headers.py``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *with_security_headers(list(message.get("headers", []))),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


def _json_error(status: int, code: str, message: str) -> JSONResponse:
    body = ErrorBody(error=ErrorInfo(code=code, message=message))
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = {
        404: f"no route for {request.url.path}",
        405: f"{request.method} is not allowed here",
    }
    return _json_error(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        message.get(exc.status_code, str(exc.detail)),
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.error("http.unhandled", error=type(exc).__name__, exc_info=exc)
    return _json_error(500, "internal_error", "something went wrong; it has been logged")


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> Starlette:
    """Build the app. Pass ``platform`` to share one with the caller (tests, embedded runs)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            app.state.platform = platform or await stack.enter_async_context(
                Platform.open(settings, "gateway")
            )
            log.info("gateway.ready", url=settings.gateway_public_url)
            yield {}

    app = Starlette(
        routes=[*api.starlette_routes(), *websocket_routes(), *page_routes()],
        lifespan=lifespan,
        exception_handlers={StarletteHTTPException: _http_exception, Exception: _unhandled},
    )
    app.state.openapi = build_openapi(api, server_url=settings.gateway_public_url)
    app.state.draining = False  # set on SIGTERM: long-lived streams end so shutdown is quick
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(ServerSpanMiddleware)  # outermost: the access log line has the trace
    return app
