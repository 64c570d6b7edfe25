"""``leadmagnet-gateway``: serve the HTTP API with uvicorn.

SIGTERM/SIGINT start uvicorn's graceful shutdown (stop accepting, finish in-flight requests);
the process then exits 0, like the workers, instead of re-raising the signal.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from leadmagnet.common.logging import configure_logging, get_logger
from leadmagnet.common.settings import get_settings
from leadmagnet.common.tracing import setup_tracing, shutdown_tracing

from .app import create_app


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_exit)
        yield

    def _request_exit(self) -> None:
        self.app.state.draining = True  # SSE streams end at their next poll
        if self.should_exit:  # a second signal: stop waiting for slow connections
            self.force_exit = True
        self.should_exit = True


def main() -> None:
    settings = get_settings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    setup_tracing("gateway", settings)
    get_logger().info("service.starting", environment=settings.environment)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
        server_header=False,
        lifespan="on",
    )
    try:
        asyncio.run(_Server(config, app).serve())
    finally:
        shutdown_tracing()  # in-flight requests are done: flush their spans


if __name__ == "__main__":
    main()
