"""A local webhook endpoint for tests: records every delivery, can be told to fail first.

With ``fetch_output=True`` it behaves like seed 000's receiver: it reads ``job_id`` and
``output_url`` from a flat body and fetches ``output_url`` (kept in ``fetched[job_id]``)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fetched:
    url: str
    status: int
    body: bytes


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """``with WebhookReceiver() as hook: ... hook.url ... hook.deliveries``."""

    def __init__(self, *, fetch_output: bool = False) -> None:
        self.deliveries: list[Delivery] = []
        self.fetch_output = fetch_output
        self.fetched: dict[str, Fetched] = {}  # job_id -> what output_url answered
        self.fail_next: list[int] = []  # statuses to answer before succeeding
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if receiver.fetch_output:
                    receiver._fetch(body)
                with receiver._lock:
                    receiver.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.fail_next.pop(0) if receiver.fail_next else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _fetch(self, body: bytes) -> None:
        """Seed 000's receiver: ``job_id`` and ``output_url`` straight from the body."""
        try:
            payload = json.loads(body)
            job_id, url = payload["job_id"], payload.get("output_url")
        except (ValueError, KeyError, TypeError):
            return
        if not url:
            return
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - test-only
                fetched = Fetched(url, resp.status, resp.read())
        except OSError as e:
            fetched = Fetched(url, getattr(e, "code", 0) or 0, b"")
        with self._lock:
            self.fetched[job_id] = fetched

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes | bytearray):  # typeshed allows bytes; AF_INET gives str
            host = host.decode()
        return f"http://{host}:{port}/hooks"

    def for_job(self, job_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if job_id.encode() in d.body]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
