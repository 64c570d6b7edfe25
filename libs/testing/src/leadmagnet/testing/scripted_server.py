"""What the local wire-format servers (``fake_llm``, ``fake_bedrock``) share: scripted replies
(rules matched on the request body, optionally a number of times), the recorded requests, the
control API that scripts them over HTTP (``/_control/rules``, ``/_control/stats``,
``/_control/reset``), its client, and serving the app with uvicorn in a background thread on a
free port (or standalone from the command line)."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .moto_server import free_port

KEEP_REQUESTS = 500  # the most recent requests kept for the stats


class ScriptedState:
    """Rules and the recorded requests; ``reset`` puts a server back to its defaults (subclasses
    add their own state there)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.total = 0

    def record(self, request: dict[str, Any]) -> None:
        self.total += 1
        self.requests.append(request)
        del self.requests[:-KEEP_REQUESTS]

    def take_rule(self, body: str) -> dict[str, Any] | None:
        """The reply of the first rule matching the body that has times left (and one used)."""
        for rule in self.rules:
            if rule.get("match") and rule["match"] not in body:
                continue
            times = rule.get("times")
            if times is not None:
                if times <= 0:
                    continue
                rule["times"] = times - 1
            return dict(rule.get("reply", {}))
        return None

    def stats(self) -> dict[str, Any]:
        return {"total": self.total, "requests": self.requests}


def control_routes(state: ScriptedState) -> list[Route]:
    """``POST``/``DELETE /_control/rules``, ``GET /_control/stats``, ``POST /_control/reset``."""

    async def rules(request: Request) -> Response:
        if request.method == "DELETE":
            state.rules.clear()
        else:
            state.rules.append(await request.json())
        return JSONResponse({"rules": len(state.rules)})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/_control/rules", rules, methods=["POST", "DELETE"]),
        Route("/_control/stats", stats, methods=["GET"]),
        Route("/_control/reset", reset, methods=["POST"]),
    ]


class ControlClient:
    """Scripts a running server over its control API (any process)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = httpx2.request(method, f"{self.url}{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def add_rule(
        self, *, reply: dict[str, Any], match: str | None = None, times: int | None = None
    ) -> None:
        self._call("POST", "/_control/rules", {"match": match, "times": times, "reply": reply})

    def clear_rules(self) -> None:
        self._call("DELETE", "/_control/rules")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_control/stats"))

    def reset(self) -> None:
        self._call("POST", "/_control/reset")


class ThreadedServer:
    """``with Server(...) as s:`` serves ``app`` with uvicorn in a daemon thread on
    ``127.0.0.1:port`` (a free port by default) until the block ends."""

    name = "local"  # for the error when it does not start

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{self.name} server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_main(doc: str, default_port: int, build: Callable[[], Starlette]) -> None:
    """``python -m ... --port N``: the server in the foreground."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    uvicorn.run(build(), host="127.0.0.1", port=args.port, log_level="warning")
