"""Environment for running the services as processes in tests: small waits and backoffs so
retries and recoveries happen within a test's time."""

from __future__ import annotations

from leadmagnet.common.settings import Settings


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
    }
    env.update(extra)
    return env
