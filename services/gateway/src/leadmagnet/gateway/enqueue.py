"""Starting a job: its first event goes to the topic, or the job fails at once (never a job left
pending that no stage will ever see) and the caller gets a 503 to retry."""

from __future__ import annotations

from typing import Any

from leadmagnet.common.events import CloudEvent
from leadmagnet.common.jobflow import fail_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.platform import Platform

from .api import HTTPError

log = get_logger()


async def publish_first_event(
    platform: Platform, event: CloudEvent[Any], job_id: str, what: str = "job"
) -> None:
    try:
        await platform.bus.publish(event)
    except Exception as e:  # the topic refused: nothing will pick the job up
        log.error("enqueue.publish_failed", job_id=job_id, error=str(e))
        await fail_job(
            platform, job_id, code="enqueue_failed", message=f"the {what} could not be queued"
        )
        raise HTTPError(503, "unavailable", f"the {what} could not be queued; try again") from None
