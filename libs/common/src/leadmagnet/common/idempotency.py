"""Per-(stage, job) idempotency, after AWS Lambda Powertools' utility, for long-running consumers.

A record is IN_PROGRESS (with a short lease) or COMPLETED (with the stage's result); EXPIRED is
never stored, it is derived from the clock. Claiming is ONE conditional PutItem; on conflict the
old item comes back with the error (``ReturnValuesOnConditionCheckFailure=ALL_OLD``). The lease
is the message's visibility deadline, and the consumer's heartbeat extends both together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import ClientError

from .aws import AwsClients
from .dynamo import DynamoTable, deserialize, is_conditional_failure, values
from .errors import TransientError
from .logging import get_logger

log = get_logger()

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


class Status(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    result: dict[str, Any] | None = None
    lease_expires_ms: int | None = None


class LeaseHolder(Protocol):
    """What a stage needs from the message being processed (the consumer's MessageContext)."""

    @property
    def lease_deadline_ms(self) -> int: ...

    def on_lease_extended(self, callback: Callable[[int], Awaitable[None]]) -> None: ...


class AlreadyInProgress(TransientError):
    """Another worker holds the lease; let SQS redeliver after it may have finished."""


def now_ms() -> int:
    return int(time.time() * 1000)


class IdempotencyStore:
    def __init__(self, aws: AwsClients, table_name: str, ttl_seconds: int = DEFAULT_TTL_SECONDS):
        self.table = DynamoTable(aws, table_name)
        self.ttl_seconds = ttl_seconds

    async def claim(self, key: str, lease_until_ms: int) -> Claim:
        now = time.time()
        try:
            await self.table.put(
                {
                    "id": key,
                    "status": Status.IN_PROGRESS.value,
                    "in_progress_expiry": lease_until_ms,
                    "expiration": int(now) + self.ttl_seconds,
                },
                ConditionExpression=(
                    "attribute_not_exists(id) OR expiration < :now OR "
                    "(#s = :in_progress AND in_progress_expiry < :now_ms)"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values(
                    now=int(now), now_ms=int(now * 1000), in_progress=Status.IN_PROGRESS.value
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim(ClaimOutcome.CLAIMED)
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            old = e.response.get("Item")
            item = deserialize(old) if old else await self.table.get({"id": key})
        if item is None:  # deleted between our put and get: try once more
            return await self.claim(key, lease_until_ms)
        if item.get("status") == Status.COMPLETED.value:
            return Claim(ClaimOutcome.COMPLETED, json.loads(item.get("result") or "{}"))
        return Claim(ClaimOutcome.IN_PROGRESS, lease_expires_ms=int(item["in_progress_expiry"]))

    async def complete(self, key: str, result: dict[str, Any]) -> None:
        await self.table.update(
            {"id": key},
            UpdateExpression="SET #s = :done, #r = :result, expiration = :exp "
            "REMOVE in_progress_expiry",
            ExpressionAttributeNames={"#s": "status", "#r": "result"},
            ExpressionAttributeValues=values(
                done=Status.COMPLETED.value,
                result=json.dumps(result, default=str),
                exp=int(time.time()) + self.ttl_seconds,
            ),
        )

    async def extend(self, key: str, lease_until_ms: int) -> None:
        try:
            await self.table.update(
                {"id": key},
                UpdateExpression="SET in_progress_expiry = :lease",
                ConditionExpression="#s = :in_progress",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values(
                    lease=lease_until_ms, in_progress=Status.IN_PROGRESS.value
                ),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            log.warning("idempotency.extend_lost", key=key)

    async def release(self, key: str) -> None:
        """Delete our IN_PROGRESS record after a failure so a retry can run."""
        try:
            await self.table.delete(
                {"id": key},
                ConditionExpression="#s = :in_progress",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values(in_progress=Status.IN_PROGRESS.value),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise

    async def run_once(
        self,
        key: str,
        holder: LeaseHolder,
        work: Callable[[], Awaitable[dict[str, Any]]],
    ) -> tuple[dict[str, Any], bool]:
        """Run ``work`` at most once per key; return (result, replayed).

        ``replayed`` is True when a previous delivery already completed the work: the caller
        then re-does only its cheap, idempotent follow-ups (e.g. re-publishing the next event).
        """
        claim = await self.claim(key, holder.lease_deadline_ms)
        if claim.outcome is ClaimOutcome.COMPLETED:
            log.info("idempotency.replayed", key=key)
            return claim.result or {}, True
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            wait = max(1.0, ((claim.lease_expires_ms or now_ms()) - now_ms()) / 1000)
            raise AlreadyInProgress(
                f"stage {key} is already in progress elsewhere", retry_after=wait
            )

        async def extend(deadline_ms: int) -> None:
            await self.extend(key, deadline_ms)

        holder.on_lease_extended(extend)
        try:
            result = await work()
        except BaseException as failure:
            try:
                await self.release(key)
            except Exception as cleanup:
                # The work's own error decides what happens next (a PermanentError must not
                # become retries because the release failed); the lease expires by itself.
                log.warning("idempotency.release_failed", key=key, error=type(cleanup).__name__)
                failure.add_note(f"releasing {key} also failed: {cleanup!r}")
            raise
        await self.complete(key, result)
        return result, False
