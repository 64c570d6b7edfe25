"""Environment for running the services as processes in tests: small waits and backoffs so
retries and recoveries happen within a test's time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from leadmagnet.cli.devstack import SERVICES, ServiceStack
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.settings import Settings

from .moto_server import free_port


def bootstrapped(settings: Settings) -> Settings:
    """The settings, once their resources (tables, queues, buckets under the prefix) exist."""

    async def run() -> None:
        async with AwsClients(settings) as aws:
            await bootstrap(aws)

    asyncio.run(run())
    return settings


def stack_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "RESOURCE_PREFIX": settings.resource_prefix,
        "LEADMAGNET_ENV": "test",
        "ALLOW_PRIVATE_TARGETS": "true",
        "SQS_WAIT_TIME_SECONDS": "1",
        "CONSUMER_BACKOFF_BASE_SECONDS": "0.5",
        "CONSUMER_BACKOFF_CAP_SECONDS": "2",
        "CONSUMER_SHUTDOWN_GRACE_SECONDS": "10",
        "LOG_LEVEL": "INFO",
        "LEAD_IDLE_DELAY_SECONDS": "3",  # the not-idle recheck happens within the test
        "LEAD_ERROR_COOLDOWN_SECONDS": "2",
        "TRACES_EXPORTER": "file",  # <log dir>/<service>.traces.jsonl, one JSON line a span
    }
    env.update(extra)
    return env


@contextmanager
def running_stack(
    env: dict[str, str], logs: Path, names: Iterable[str] = SERVICES
) -> Iterator[ServiceStack]:
    """The services as processes (the gateway on a free port) for the block; afterwards every
    one of them must have exited cleanly."""
    services = ServiceStack(env, logs, gateway_port=free_port())
    try:
        services.start_all(names)
        yield services
    finally:
        codes = services.stop_all()
        bad = {n: c for n, c in codes.items() if c != 0}
        assert not bad, f"services did not exit cleanly: {bad}"
