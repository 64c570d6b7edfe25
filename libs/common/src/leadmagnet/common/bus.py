"""Publishing events to the SNS topic (with filterable message attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import tracing
from .errors import TransientError
from .events import CloudEvent, EventData, message_attributes, new_event
from .logging import get_logger
from .resources import Resources

log = get_logger()


class EventBus:
    def __init__(self, resources: Resources, *, service: str) -> None:
        self.resources = resources
        self.sns = resources.aws.sns
        self.source = f"/leadmagnet/{service}"

    def event(
        self,
        data: EventData,
        *,
        subject: str | None = None,
        tenant_id: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> CloudEvent[Any]:
        event = new_event(
            data,
            source=self.source,
            subject=subject,
            tenant_id=tenant_id,
            correlation_id=correlation_id,
            event_id=event_id,
        )
        # The current span becomes the consumer's parent: one trace per job across services.
        carrier = tracing.inject()
        event.traceparent = carrier.get("traceparent")
        event.tracestate = carrier.get("tracestate")
        return event

    async def publish(self, event: CloudEvent[Any]) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[CloudEvent[Any]]) -> None:
        """Publish in batches of 10 (SNS PublishBatch); any failed entry raises TransientError."""
        if not events:
            return
        arn = await self.resources.topic_arn()
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            if len(chunk) == 1:
                e = chunk[0]
                await self.sns.publish(
                    TopicArn=arn,
                    Message=e.model_dump_json(),
                    MessageAttributes=message_attributes(e),
                )
            else:
                resp = await self.sns.publish_batch(
                    TopicArn=arn,
                    PublishBatchRequestEntries=[
                        {
                            "Id": str(i),
                            "Message": e.model_dump_json(),
                            "MessageAttributes": message_attributes(e),
                        }
                        for i, e in enumerate(chunk)
                    ],
                )
                if resp.get("Failed"):
                    raise TransientError(f"SNS PublishBatch failed for {resp['Failed']!r}")
            for e in chunk:
                log.info("event.published", published_type=e.type, published_id=e.id)
