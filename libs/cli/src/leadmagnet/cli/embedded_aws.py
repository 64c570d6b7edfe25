"""The embedded AWS endpoint (moto server) that ``make run``, the tests and the benchmarks use.

moto's DynamoDB backend reads, changes and writes an item without a lock, so two concurrent
``UpdateItem`` calls on one item can both pass a condition or lose one of two ``ADD``s — which
real DynamoDB never does, and which our conditional writes rely on. Every item operation of the
backend is therefore serialised here (one lock; moto serves from one Python process anyway).

werkzeug's development server, which moto runs on, answers every request with
``Connection: close``, so each SDK call pays a new TCP connection on both sides, which AWS's
endpoints never make a client do. ``keep_alive_handler`` keeps connections open where that is
safe (the request body read in full, the response sized by Content-Length), so the embedded
endpoint costs a call what AWS would, give or take the network.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

ITEM_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
_lock = threading.RLock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Give moto's DynamoDB the per-request atomicity of the real service (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(serialised))
    _patched = True


_kept_alive = threading.local()  # this handler thread's current response keeps its connection


class _NoDrain:
    """What werkzeug's after-response drain gets for a kept-alive connection: nothing to read
    (the body was read in full; what comes next is the client's next request)."""

    def register(self, *_: Any, **__: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class _DrainSelectors:
    """The ``selectors`` module as werkzeug.serving sees it: its drain (read until the client
    closes: werkzeug's server closes every connection) is skipped for a kept-alive one."""

    EVENT_READ = 1

    @staticmethod
    def DefaultSelector() -> Any:  # the name werkzeug calls
        import selectors

        return _NoDrain() if getattr(_kept_alive, "on", False) else selectors.DefaultSelector()


def keep_alive_handler() -> type:
    """moto's request handler, keeping HTTP/1.1 connections open when that is safe."""
    import io
    import selectors

    import werkzeug.serving
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    _DrainSelectors.EVENT_READ = selectors.EVENT_READ
    werkzeug.serving.selectors = _DrainSelectors  # type: ignore[attr-defined,assignment]

    class KeepAliveRequestHandler(MotoRequestHandler):
        # On a kept-alive connection, Nagle's algorithm holds the body's write until the
        # client ACKs the headers' (which it delays ~40 ms): every call would wait for that.
        disable_nagle_algorithm = True
        _drained = False
        _sized = False

        def make_environ(self) -> Any:
            _kept_alive.on = False
            environ = super().make_environ()
            length = self.headers.get("Content-Length")
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            self._drained = self._sized = False
            if not chunked and (length is None or length.isdigit()):
                # The whole body read now: the next request line is where the stream stands.
                body = self.rfile.read(int(length)) if length else b""
                environ["wsgi.input"] = io.BytesIO(body)
                self._drained = True
            return environ

        def send_header(self, keyword: str, value: str) -> None:
            name = keyword.lower()
            if name == "content-length":
                self._sized = True
            if name == "transfer-encoding":
                self._sized = False
                self._drained = False
            if name == "connection" and value.lower() == "close" and self._drained and self._sized:
                _kept_alive.on = True
                return  # keep-alive, as HTTP/1.1 defaults to and AWS does
            super().send_header(keyword, value)

    return KeepAliveRequestHandler


class KeepAliveMotoServer:
    """``moto.server.ThreadedMotoServer`` with ``keep_alive_handler`` (and an optional WSGI
    wrapper around moto's app, e.g. a call counter)."""

    def __init__(self, port: int, wrap: Any = None) -> None:
        from moto.server import ThreadedMotoServer

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    create_backend_app,
                )
                from werkzeug.serving import make_server

                app: Any = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(
                    self._ip_address,
                    self._port,
                    wrap(app) if wrap else app,
                    True,
                    request_handler=keep_alive_handler(),
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self.server = Server(ip_address="127.0.0.1", port=port, verbose=False)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def get_host_and_port(self) -> tuple[str, int]:
        return self.server.get_host_and_port()


def start_moto(port: int) -> tuple[str, object]:
    import logging

    make_dynamodb_atomic()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = KeepAliveMotoServer(port)
    server.start()
    return f"http://127.0.0.1:{port}", server
