"""Run moto's HTTP server on 127.0.0.1 for tests, benchmarks and ``make run``."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from leadmagnet.cli.embedded_aws import KeepAliveMotoServer, make_dynamodb_atomic

from .request_units import READS, WRITES, RequestUnitMeter

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([a-z0-9-]+)/aws4_request")
_BATCH_ENTRY = re.compile(r"^(?:PublishBatchRequestEntries|Entries)\.member\.(\d+)\.Id$")
_CALLER = re.compile(r"\bleadmagnet/([A-Za-z0-9_.-]+)")
HARNESS = "harness"  # calls without a service tag: the benchmark or test itself, presigned URLs
_S3_OPS = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


class AwsCallCounter:
    """Counts the AWS API calls an endpoint serves, by (service, operation), and the entries
    inside batch calls (what the calls would have been without batching); the same by caller
    (the ``leadmagnet/<service>`` tag in the SDK's User-Agent, ``HARNESS`` without one), with
    the endpoint's own CPU time spent handling each caller's calls. Thread-safe."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.batched_entries: Counter[tuple[str, str]] = Counter()
        self.by_caller: Counter[tuple[str, str, str]] = Counter()
        self.batched_by_caller: Counter[tuple[str, str, str]] = Counter()
        self.cpu_seconds: dict[str, float] = {}
        self.units_by_caller: defaultdict[tuple[str, str, str], float] = defaultdict(float)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.batched_entries.clear()
            self.by_caller.clear()
            self.batched_by_caller.clear()
            self.cpu_seconds.clear()
            self.units_by_caller.clear()

    def snapshot(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        with self._lock:
            return Counter(self.calls), Counter(self.batched_entries)

    def caller_snapshot(
        self,
    ) -> tuple[Counter[tuple[str, str, str]], Counter[tuple[str, str, str]], dict[str, float]]:
        """(calls, batched entries) by (caller, service, operation), CPU seconds by caller."""
        with self._lock:
            return (
                Counter(self.by_caller),
                Counter(self.batched_by_caller),
                dict(self.cpu_seconds),
            )

    def units_snapshot(self) -> dict[tuple[str, str, str], float]:
        """DynamoDB request units (write and read) by (caller, "dynamodb", operation)."""
        with self._lock:
            return dict(self.units_by_caller)

    def add_cpu(self, caller: str, seconds: float) -> None:
        with self._lock:
            self.cpu_seconds[caller] = self.cpu_seconds.get(caller, 0.0) + seconds

    def record(self, environ: dict[str, Any], body: bytes) -> str:
        """Count one call; its caller."""
        return self.classify(environ, body).caller

    def classify(self, environ: dict[str, Any], body: bytes) -> Call:
        """Count one call; who made it, and what it is."""
        caller_tag = _CALLER.search(environ.get("HTTP_USER_AGENT", ""))
        caller = caller_tag.group(1) if caller_tag else HARNESS
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        auth = environ.get("HTTP_AUTHORIZATION", "") or environ.get("QUERY_STRING", "")
        scope = _SCOPE.search(auth.replace("%2F", "/"))
        service = scope.group(2) if scope else "unknown"
        if service == "unknown" and "Signature=" in environ.get("QUERY_STRING", ""):
            service = "s3"  # a presigned GET (the only presigned URLs the platform makes)
        entries = 0
        if target:
            operation = target.split(".", 1)[-1]
            if operation.endswith("Batch") or operation == "BatchWriteItem":
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {}
                if operation == "BatchWriteItem":
                    entries = sum(len(v) for v in payload.get("RequestItems", {}).values())
                else:
                    entries = len(payload.get("Entries", []))
        elif service == "s3":
            operation = _S3_OPS.get(environ.get("REQUEST_METHOD", ""), "Other")
            if "delete" in environ.get("QUERY_STRING", "") and operation == "Other":
                operation = "DeleteObjects"
        else:
            form = parse_qs(body.decode("utf-8", "replace")) if body else {}
            query = parse_qs(environ.get("QUERY_STRING", ""))
            operation = (form.get("Action") or query.get("Action") or ["Unknown"])[0]
            entries = sum(1 for k in form if _BATCH_ENTRY.match(k))
        with self._lock:
            self.calls[(service, operation)] += 1
            self.by_caller[(caller, service, operation)] += 1
            if entries:
                self.batched_entries[(service, operation)] += entries
                self.batched_by_caller[(caller, service, operation)] += entries
        return Call(caller, service, operation, scope.group(1) if scope else "us-east-1")

    def add_units(self, caller: str, operation: str, write: float, read: float) -> None:
        """DynamoDB request units a call consumed (``request_units``)."""
        with self._lock:
            self.units_by_caller[(caller, "dynamodb", operation)] += write + read


def _counting(app: Callable[..., Iterable[bytes]], counter: AwsCallCounter) -> Any:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.thread_time()  # werkzeug serves each request on its own thread
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        call = counter.classify(environ, body)
        metering = call.service == "dynamodb" and call.operation in (WRITES | READS)
        metered_in = time.thread_time()
        if metering:  # sized before the write; its own time is not the endpoint's
            meter = RequestUnitMeter(call.region)
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                payload, metering = {}, False
            touched = meter.before(call.operation, payload)
        metering_time = time.thread_time() - metered_in
        result = app(environ, start_response)
        try:
            chunks = list(result)  # the response built here, on this thread's clock
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if metering:
            metered_in = time.thread_time()
            write, read = meter.units(call.operation, payload, touched, b"".join(chunks))
            counter.add_units(call.caller, call.operation, write, read)
            metering_time += time.thread_time() - metered_in
        counter.add_cpu(call.caller, time.thread_time() - started - metering_time)
        return chunks

    return wrapped


@dataclass(frozen=True)
class Call:
    """One API call the endpoint served: who made it (``leadmagnet/<service>`` tag), what it
    is, and the region it was signed for."""

    caller: str
    service: str
    operation: str
    region: str


@contextmanager
def moto_server(port: int = 0, *, counter: AwsCallCounter | None = None) -> Iterator[str]:
    """Start a threaded moto server; yield its endpoint URL. With ``counter``, every API call it
    serves is counted (benchmarks)."""
    make_dynamodb_atomic()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    bind_port = port or free_port()
    server = KeepAliveMotoServer(
        bind_port, wrap=(lambda app: _counting(app, counter)) if counter else None
    )
    server.start()
    host, real_port = server.get_host_and_port()
    try:
        yield f"http://{host}:{real_port}"
    finally:
        server.stop()


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """Environment for a process that talks to the given endpoint with dummy credentials."""
    env = dict(DUMMY_CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return env


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
