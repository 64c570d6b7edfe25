"""Dead-letter queues for operators: look at what failed and why, send it back, or drop it.

A dead-lettered message keeps its body (the CloudEvents envelope as SNS delivered it) and its
attributes, plus the consumer's ``dlq_reason``, ``dlq_source_queue`` and ``dlq_receive_count``.

Redrive prefers SQS message-move tasks (server side, resumable); where the endpoint does not
offer them it receives, re-sends to the source queue and only then deletes from the DLQ, so a
crash in between can duplicate a message (stages are idempotent) but never lose one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .aws import AwsClients
from .logging import get_logger
from .resources import Resources

log = get_logger()

DLQ_ATTRIBUTES = ("dlq_reason", "dlq_source_queue", "dlq_receive_count")
PEEK_VISIBILITY_SECONDS = 30


@dataclass
class DeadLetter:
    message_id: str
    body: str
    attributes: dict[str, str]
    dlq_receives: int
    sent_at_ms: int
    receipt_handle: str = field(repr=False, default="")

    @property
    def envelope(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def reason(self) -> str:
        return self.attributes.get("dlq_reason", "(moved by the queue's redrive policy)")

    @property
    def tenant_id(self) -> str | None:
        """The tenant the message belongs to, when the envelope and the attributes agree on one
        (a poison message, or one whose two copies disagree, belongs to nobody)."""
        attribute = self.attributes.get("tenant_id") or None
        env = self.envelope
        if env is None:
            return attribute
        carried = env.get("tenantid")
        carried = carried if isinstance(carried, str) and carried else None
        if attribute is not None and carried is not None and attribute != carried:
            return None
        return carried or attribute

    @property
    def receive_count(self) -> str:
        return self.attributes.get("dlq_receive_count", "?")

    def summary(self) -> dict[str, Any]:
        env = self.envelope or {}
        return {
            "message_id": self.message_id,
            "type": env.get("type") or self.attributes.get("type"),
            "subject": env.get("subject") or self.attributes.get("subject"),
            "tenant_id": self.attributes.get("tenant_id"),
            "receive_count": self.receive_count,
            "reason": self.reason,
            "decoded": self.envelope is not None,
        }


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {
        k: v.get("StringValue", "")
        for k, v in message.get("MessageAttributes", {}).items()
        if "StringValue" in v
    }


class DeadLetters:
    def __init__(self, aws: AwsClients, resources: Resources) -> None:
        self.sqs = aws.sqs
        self.resources = resources

    def _check(self, queue: str) -> None:
        if queue not in self.resources.topology.queues:
            known = ", ".join(sorted(self.resources.topology.queues))
            raise ValueError(f"unknown queue {queue!r}; the queues are: {known}")

    async def _receive(self, url: str, visibility: int) -> list[dict[str, Any]]:
        resp = await self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return list(resp.get("Messages", []))

    async def peek(self, queue: str, limit: int = 50) -> list[DeadLetter]:
        """Up to ``limit`` messages, without consuming them (held briefly, then released)."""
        self._check(queue)
        url = await self.resources.queue_url(queue, dlq=True)
        seen: dict[str, DeadLetter] = {}
        while len(seen) < limit:
            batch = await self._receive(url, PEEK_VISIBILITY_SECONDS)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for m in fresh[: limit - len(seen)]:
                system = m.get("Attributes", {})
                seen[m["MessageId"]] = DeadLetter(
                    message_id=m["MessageId"],
                    body=m["Body"],
                    attributes=_attributes(m),
                    dlq_receives=int(system.get("ApproximateReceiveCount", "1")),
                    sent_at_ms=int(system.get("SentTimestamp", "0")),
                    receipt_handle=m["ReceiptHandle"],
                )
        await self._release(url, list(seen.values()))
        return sorted(seen.values(), key=lambda d: d.sent_at_ms)

    async def _release(self, url: str, letters: list[DeadLetter]) -> None:
        for d in letters:
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=d.receipt_handle, VisibilityTimeout=0
                )
            except ClientError as e:  # it reappears after the peek visibility anyway
                log.warning("dlq.release_failed", message_id=d.message_id, error=str(e))

    async def show(self, queue: str, message_id: str) -> DeadLetter | None:
        for d in await self.peek(queue, limit=1000):
            if d.message_id == message_id:
                return d
        return None

    async def count(self, queue: str) -> int:
        self._check(queue)
        url = await self.resources.queue_url(queue, dlq=True)
        attrs = await self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        values = attrs.get("Attributes", {})
        return int(values.get("ApproximateNumberOfMessages", 0)) + int(
            values.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    async def depths(self, queue: str) -> tuple[int, int]:
        """(visible, in flight) of the queue's DLQ: GetQueueAttributes only, nothing received."""
        self._check(queue)
        url = await self.resources.queue_url(queue, dlq=True)
        attrs = await self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        got = attrs.get("Attributes", {})
        return int(got.get("ApproximateNumberOfMessages", 0)), int(
            got.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    async def redrive(self, queue: str, *, limit: int | None = None) -> tuple[str, int]:
        """Move messages back to their source queue: ('move-task', task count estimate) or
        ('resend', messages moved)."""
        self._check(queue)
        if limit is None:
            moved = await self._move_task(queue)
            if moved is not None:
                return "move-task", moved
        return "resend", await self._resend(queue, limit)

    async def _arn(self, url: str) -> str:
        attrs = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    async def _move_task(self, queue: str) -> int | None:
        dlq_url = await self.resources.queue_url(queue, dlq=True)
        source_url = await self.resources.queue_url(queue)
        pending = await self.count(queue)
        try:
            await self.sqs.start_message_move_task(
                SourceArn=await self._arn(dlq_url), DestinationArn=await self._arn(source_url)
            )
        except (ClientError, NotImplementedError) as e:
            log.info("dlq.move_task_unavailable", queue=queue, error=str(e)[:200])
            return None
        return pending

    async def _resend(self, queue: str, limit: int | None) -> int:
        dlq_url = await self.resources.queue_url(queue, dlq=True)
        source_url = await self.resources.queue_url(queue)
        # Only what is there now: a message that fails again comes back to the DLQ as a new
        # message, and must not be moved round in circles.
        present = await self.count(queue)
        limit = present if limit is None else min(limit, present)
        moved = 0
        while moved < limit:
            batch = await self._receive(dlq_url, 60)
            if not batch:
                break
            for m in batch[: limit - moved]:
                attrs = {
                    k: v
                    for k, v in m.get("MessageAttributes", {}).items()
                    if k not in DLQ_ATTRIBUTES
                }
                # Send first, delete second: a crash in between duplicates, never loses.
                await self.sqs.send_message(
                    QueueUrl=source_url, MessageBody=m["Body"], MessageAttributes=attrs
                )
                await self.sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
        return moved

    async def purge(self, queue: str) -> int:
        """Delete every message of the DLQ; returns how many there were (approximately)."""
        self._check(queue)
        url = await self.resources.queue_url(queue, dlq=True)
        before = await self.count(queue)
        await self.sqs.purge_queue(QueueUrl=url)
        return before
