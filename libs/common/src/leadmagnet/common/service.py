"""Entry point plumbing shared by every worker: a service is a set of handlers over this."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from typing import Protocol

from .consumer import Consumer, FailureHook, Handler, Route, Routes
from .logging import configure_logging, get_logger
from .platform import Platform
from .settings import Settings, get_settings
from .tracing import setup_tracing, shutdown_tracing

log = get_logger()

# A service's flows: each returns its routes; the hook is the default for routes without one.
HandlerFactory = Callable[[Platform], tuple[Routes, FailureHook | None]]


class Flow(Protocol):
    """A flow module of a service: ``routes(platform)`` maps event types to handlers."""

    def routes(self, platform: Platform) -> Routes: ...


def compose(platform: Platform, flows: Iterable[Flow]) -> dict[str, Handler | Route]:
    """Merge the routes of a service's flows; two flows claiming one event type is a bug."""
    merged: dict[str, Handler | Route] = {}
    for flow in flows:
        for type_, route in flow.routes(platform).items():
            if type_ in merged:
                raise ValueError(f"event type {type_} is handled by two flows")
            merged[type_] = route
    return merged


async def serve_worker(
    service: str, build: HandlerFactory, settings: Settings | None = None
) -> None:
    settings = settings or get_settings()
    async with Platform.open(settings, service) as platform:
        handlers, on_failure = build(platform)
        consumer = Consumer(
            resources=platform.resources,
            service=service,
            handlers=handlers,
            on_failure=on_failure,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stop)
        await consumer.run()


def run_worker(service: str, build: HandlerFactory) -> None:
    """Blocking entry point used by each worker's ``main()``."""
    settings = get_settings()
    configure_logging(service, settings.log_level, settings.log_format)
    setup_tracing(service, settings)
    log.info("service.starting", environment=settings.environment, prefix=settings.resource_prefix)
    try:
        asyncio.run(serve_worker(service, build, settings))
    finally:
        shutdown_tracing()  # after the drain: the last spans are flushed before exit
