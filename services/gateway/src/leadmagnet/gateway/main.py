"""``leadmagnet-gateway``: serve the HTTP API with uvicorn (SIGTERM drains connections)."""

from __future__ import annotations

import uvicorn

from leadmagnet.common.logging import configure_logging, get_logger
from leadmagnet.common.settings import get_settings

from .app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    get_logger().info("service.starting", environment=settings.environment)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
        server_header=False,
    )


if __name__ == "__main__":
    main()
