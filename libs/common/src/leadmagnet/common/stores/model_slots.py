"""A tenant's model slots: a semaphore in DynamoDB, shared by every worker replica.

Table ``model_slots`` (key ``(tenant_id, slot)``): one item per tenant, at the fixed sort key
``slot = HOLDERS_SLOT``, whose map ``holders`` takes each holder's random token to its
``lease_until`` (epoch seconds). Every entry counts toward the limit until it is removed, so
holders above a lowered limit still count, and a crashed holder's entry counts until its lease
has lapsed and a claimant prunes it.

- acquire: one conditional UpdateItem adds our entry while the map has fewer than ``limit``
  entries. DynamoDB applies it atomically, so replicas racing for the last slot cannot both win
  and the loser learns it from the same call: the refusal returns the item as it was, and when
  some of its leases have lapsed the next attempt removes them in the same conditional update
  (only if they are still lapsed) while adding ours. The tenant's first claim creates the item
  (a process's first claim of a tenant tries that first).
- renew: set our entry's lease, only while the entry is still there.
- release: remove our entry.

Two calls per model call (acquire, release) where a slot per item needed a Query, a PutItem per
tried slot and a DeleteItem. The item carries a TTL an hour after the latest lease written, for
tidiness only: correctness comes from the leases.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, deserialize, is_conditional_failure, values

TIDY_AFTER_SECONDS = 3600
# The holders' item's sort key: the table's (tenant_id, slot) key is kept (no topology change);
# -1 was never a slot number of the item-per-slot layout.
HOLDERS_SLOT = -1
# Refused claims that may be retried at once with what the refusal showed (the item missing, or
# lapsed leases to prune); replicas racing for the last slots may need a second look.
ATTEMPTS = 4
MAX_PRUNED = 32  # lapsed entries removed per claim: keeps the expression small


@dataclass(frozen=True)
class HeldSlot:
    tenant_id: str
    holder: str


@dataclass(frozen=True)
class Refused:
    """A conditional write refused: the item as it was (None when there was none)."""

    item: dict[str, Any] | None


@dataclass(frozen=True)
class NoSlot:
    """Every slot is held: ``retry_after`` is a hint, never more than the earliest lease's end."""

    retry_after: float


class ModelSlots:
    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)
        # Tenants whose item this process has seen. A tenant's first claims here wait for the
        # first one, which tries the create first: calls racing for a tenant without an item
        # would otherwise each spend a refused update and a refused create before their claim.
        self._seen: set[str] = set()
        self._first_claims: dict[str, asyncio.Lock] = {}

    async def acquire(
        self,
        tenant_id: str,
        limit: int,
        lease_seconds: float,
        *,
        retry_after: float = 5.0,
        now: float | None = None,
    ) -> HeldSlot | NoSlot:
        """Claim one of the tenant's ``limit`` slots for ``lease_seconds``: usually one
        conditional UpdateItem; a refusal says why (the old item comes back with it)."""
        now = time.time() if now is None else now
        if tenant_id in self._seen:
            return await self._claim(tenant_id, limit, lease_seconds, retry_after, now, {})
        async with self._first_claims.setdefault(tenant_id, asyncio.Lock()):
            if tenant_id in self._seen:
                return await self._claim(tenant_id, limit, lease_seconds, retry_after, now, {})
            claim = await self._claim(tenant_id, limit, lease_seconds, retry_after, now, None)
            self._seen.add(tenant_id)
            del self._first_claims[tenant_id]
            return claim

    async def _claim(
        self,
        tenant_id: str,
        limit: int,
        lease_seconds: float,
        retry_after: float,
        now: float,
        old: Mapping[str, Any] | None,
    ) -> HeldSlot | NoSlot:
        """Claim attempts, the first from ``old``: the item as last seen, None if missing."""
        held = HeldSlot(tenant_id, secrets.token_hex(12))
        until = now + lease_seconds
        live: dict[str, float] = {}
        if limit < 1:  # the create below adds a holder whatever the limit
            return _no_slot(live, now, retry_after)
        for _ in range(ATTEMPTS):
            if old is None:
                refused = await self._create(held, until)
            else:
                holders: dict[str, float] = old.get("holders", {})
                live = {h: t for h, t in holders.items() if t > now}
                if len(live) >= limit:
                    break
                lapsed = [h for h in holders if h not in live][:MAX_PRUNED]
                refused = await self._add(held, until, limit, lapsed, now)
            if refused is None:
                return held
            old = refused.item
        return _no_slot(live, now, retry_after)

    async def _add(
        self, held: HeldSlot, until: float, limit: int, lapsed: list[str], now: float
    ) -> Refused | None:
        """Add our entry, removing the ``lapsed`` ones, if the map then holds at most ``limit``
        entries (None), else why not."""
        names = {"#h": "holders", "#me": held.holder, "#ttl": "ttl"}
        names.update({f"#l{i}": h for i, h in enumerate(lapsed)})
        update = "SET #h.#me = :until, #ttl = :ttl"
        if lapsed:
            update += " REMOVE " + ", ".join(f"#h.#l{i}" for i in range(len(lapsed)))
        # size() of a missing map is not evaluated (moto would refuse it): attribute_exists first.
        condition = " AND ".join(
            ["attribute_exists(#h)", "size(#h) < :room"]
            + [f"#h.#l{i} <= :now" for i in range(len(lapsed))]
        )
        value_args: dict[str, Any] = {
            "until": until,
            "ttl": int(until) + TIDY_AFTER_SECONDS,
            "room": limit + len(lapsed),
        }
        if lapsed:
            value_args["now"] = now
        return await self._conditional(
            self.table.update(
                {"tenant_id": held.tenant_id, "slot": HOLDERS_SLOT},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(**value_args),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )

    async def _create(self, held: HeldSlot, until: float) -> Refused | None:
        """The tenant's first claim (None), else the item another claimant created first."""
        return await self._conditional(
            self.table.put(
                {
                    "tenant_id": held.tenant_id,
                    "slot": HOLDERS_SLOT,
                    "holders": {held.holder: until},
                    "ttl": int(until) + TIDY_AFTER_SECONDS,
                },
                ConditionExpression="attribute_not_exists(tenant_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )

    @staticmethod
    async def _conditional(write: Awaitable[object]) -> Refused | None:
        try:
            await write
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            item = e.response.get("Item")
            return Refused(deserialize(item) if item else None)
        return None

    async def renew(self, held: HeldSlot, lease_seconds: float) -> bool:
        """Extend our lease; False when the entry is no longer ours (it lapsed and was pruned)."""
        until = time.time() + lease_seconds
        try:
            await self.table.update(
                {"tenant_id": held.tenant_id, "slot": HOLDERS_SLOT},
                UpdateExpression="SET #h.#me = :until, #ttl = :ttl",
                ConditionExpression="attribute_exists(#h.#me)",
                ExpressionAttributeNames={"#h": "holders", "#me": held.holder, "#ttl": "ttl"},
                ExpressionAttributeValues=values(until=until, ttl=int(until) + TIDY_AFTER_SECONDS),
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True

    async def release(self, held: HeldSlot) -> None:
        """Free our slot (an entry already pruned is left alone: the condition keeps a late
        release from recreating a tidied-away item)."""
        try:
            await self.table.update(
                {"tenant_id": held.tenant_id, "slot": HOLDERS_SLOT},
                UpdateExpression="REMOVE #h.#me",
                ConditionExpression="attribute_exists(#h.#me)",
                ExpressionAttributeNames={"#h": "holders", "#me": held.holder},
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise


def _no_slot(live: Mapping[str, float], now: float, retry_after: float) -> NoSlot:
    earliest_end = min(live.values(), default=now + retry_after)
    return NoSlot(retry_after=max(1.0, min(retry_after, earliest_end - now)))
