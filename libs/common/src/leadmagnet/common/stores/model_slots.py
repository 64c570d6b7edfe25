"""A tenant's model slots: a semaphore in DynamoDB, shared by every worker replica.

Table ``model_slots``: one item per held slot, ``(tenant_id, slot)`` with the holder's random
token and ``lease_until`` (epoch seconds). Claiming slot ``n`` is one conditional PutItem that
succeeds only when the slot is free or its lease has lapsed, so a crashed worker's slot frees
itself when its lease ends (the holder renews it while its call runs). Releasing deletes the
item if it is still ours. Items also carry a TTL an hour after their lease, for tidiness only:
correctness comes from ``lease_until``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, is_conditional_failure, values

TIDY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class HeldSlot:
    tenant_id: str
    slot: int
    holder: str


@dataclass(frozen=True)
class NoSlot:
    """Every slot is held: ``retry_after`` is a hint, never more than the earliest lease's end."""

    retry_after: float


class ModelSlots:
    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)

    async def acquire(
        self,
        tenant_id: str,
        limit: int,
        lease_seconds: float,
        *,
        retry_after: float = 5.0,
        now: float | None = None,
    ) -> HeldSlot | NoSlot:
        """Claim one of the tenant's ``limit`` slots for ``lease_seconds``.

        One consistent Query shows the live leases (slots above a lowered limit still count);
        then a conditional PutItem per candidate slot until one is won (another replica may win
        a slot between the two)."""
        now = time.time() if now is None else now
        items = await self.table.query(
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues=values(t=tenant_id),
            ConsistentRead=True,
        )
        live = {int(i["slot"]): float(i["lease_until"]) for i in items if i["lease_until"] > now}
        if len(live) < limit:
            holder = secrets.token_hex(12)
            # In random order: callers racing for the same free slots would otherwise all try
            # slot 0, then 1, … — a round trip per lost race.
            free = [n for n in range(limit) if n not in live]
            secrets.SystemRandom().shuffle(free)
            for n in free:
                if await self._claim(tenant_id, n, holder, now, lease_seconds):
                    return HeldSlot(tenant_id, n, holder)
        earliest_end = min(live.values(), default=now + retry_after)
        return NoSlot(retry_after=max(1.0, min(retry_after, earliest_end - now)))

    async def _claim(
        self, tenant_id: str, slot: int, holder: str, now: float, lease_seconds: float
    ) -> bool:
        until = now + lease_seconds
        try:
            await self.table.put(
                {
                    "tenant_id": tenant_id,
                    "slot": slot,
                    "holder": holder,
                    "lease_until": until,
                    "ttl": int(until) + TIDY_AFTER_SECONDS,
                },
                ConditionExpression="attribute_not_exists(tenant_id) OR lease_until < :now",
                ExpressionAttributeValues=values(now=now),
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True

    async def renew(self, held: HeldSlot, lease_seconds: float) -> bool:
        """Extend our lease; False when the slot is no longer ours (it lapsed and was taken)."""
        until = time.time() + lease_seconds
        try:
            await self.table.update(
                {"tenant_id": held.tenant_id, "slot": held.slot},
                UpdateExpression="SET lease_until = :until, #ttl = :ttl",
                ConditionExpression="holder = :me",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values(
                    until=until, ttl=int(until) + TIDY_AFTER_SECONDS, me=held.holder
                ),
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True

    async def release(self, held: HeldSlot) -> None:
        """Free the slot if it is still ours (a lapsed and re-claimed slot is left alone)."""
        try:
            await self.table.delete(
                {"tenant_id": held.tenant_id, "slot": held.slot},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues=values(me=held.holder),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
