"""Entry point plumbing shared by every worker: a service is a set of handlers over this."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping

from .consumer import Consumer, FailureHook, Handler
from .logging import configure_logging, get_logger
from .platform import Platform
from .settings import Settings, get_settings

log = get_logger()

HandlerFactory = Callable[[Platform], tuple[Mapping[str, Handler], FailureHook | None]]


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
    log.info("service.starting", environment=settings.environment, prefix=settings.resource_prefix)
    asyncio.run(serve_worker(service, build, settings))
