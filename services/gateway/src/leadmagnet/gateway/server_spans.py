"""A SERVER span per HTTP request (``leadmagnet.common.tracing``).

A job's first event is published inside it, so the request is the root of the job's trace. A
caller's W3C ``traceparent`` is honoured (its trace continues here), as OpenTelemetry's own
ASGI instrumentation does.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadmagnet.common import tracing

# The load balancer's probes: a trace every few seconds that says nothing about any job.
PROBES = frozenset({"/healthz", "/readyz"})


class ServerSpanMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        parent = tracing.extract(
            headers.get(b"traceparent", b"").decode("latin-1") or None,
            headers.get(b"tracestate", b"").decode("latin-1") or None,
        )
        method = scope["method"]
        # No raw path: some carry tokens (the route's template is added below).
        attributes = {"http.request.method": method}
        with tracing.span(method, attributes, kind=tracing.SpanKind.SERVER, context=parent) as span:

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        tracing.mark_failed(f"HTTP {status}", target=span)
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                # The router has matched by now: name the span by the route's template.
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
