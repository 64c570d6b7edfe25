"""Run moto's HTTP server on 127.0.0.1 for tests, benchmarks and ``make run``."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

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


@contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """Start a threaded moto server; yield its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or free_port(), verbose=False)
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
