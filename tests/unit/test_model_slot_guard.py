"""The model-slot guard's hand-on: a freed slot serves the process's next call of the same
tenant without a claim of its own, stays counted meanwhile, and is released when nobody takes
it, when the limit now read is lower, once it was claimed a lease ago, or when the platform
closes. The store is an in-memory double (the DynamoDB semaphore itself is proven against the
embedded endpoint in tests/integration/test_tenant_limits.py)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.common.stores.model_slots import HeldSlot, NoSlot
from leadmagnet.common.tenant_limits import ModelSlotGuard, TenantBusy

LEASE = 60


class MemorySlots:
    """The ModelSlots interface over a dict: holder -> lease_until, per tenant."""

    def __init__(self) -> None:
        self.holders: dict[str, dict[str, float]] = {}
        self.claims = 0
        self.releases = 0

    async def acquire(
        self,
        tenant_id: str,
        limit: int,
        lease_seconds: float,
        *,
        retry_after: float = 5.0,
        now: float | None = None,
    ) -> HeldSlot | NoSlot:
        self.claims += 1
        now = time.time() if now is None else now
        held = self.holders.setdefault(tenant_id, {})
        if len(held) >= limit:
            return NoSlot(retry_after=retry_after)
        holder = f"h{self.claims}"
        held[holder] = now + lease_seconds
        return HeldSlot(tenant_id, holder)

    async def renew(self, held: HeldSlot, lease_seconds: float) -> bool:
        return held.holder in self.holders.get(held.tenant_id, {})

    async def release(self, held: HeldSlot) -> None:
        self.releases += 1
        self.holders.get(held.tenant_id, {}).pop(held.holder, None)

    def count(self, tenant_id: str) -> int:
        return len(self.holders.get(tenant_id, {}))


class Guard(ModelSlotGuard):
    def __init__(self, limit: int, keep_seconds: float = 3600) -> None:
        settings = Settings(LEADMAGNET_ENV="test", MODEL_SLOT_LEASE_SECONDS=LEASE)
        super().__init__(
            cast(Platform, SimpleNamespace(settings=settings)), keep_seconds=keep_seconds
        )
        self.limit = limit
        self.memory = MemorySlots()
        self.slots = self.memory  # type: ignore[assignment]

    async def concurrency(self, tenant_id: str) -> int:
        return self.limit


async def run_calls(guard: Guard, tenant: str, n: int) -> None:
    for _ in range(n):
        async with guard.held(tenant):
            pass


async def test_a_freed_slot_serves_the_next_call_without_a_claim() -> None:
    guard = Guard(limit=2)
    await run_calls(guard, "t1", 5)
    assert guard.memory.claims == 1
    assert guard.memory.releases == 0
    assert guard.memory.count("t1") == 1  # the kept slot still counts
    await run_calls(guard, "t2", 1)  # another tenant's call claims its own
    assert guard.memory.claims == 2

    await guard.aclose()
    assert guard.memory.count("t1") == 0
    assert guard.memory.count("t2") == 0


async def test_a_kept_slot_is_released_when_nobody_takes_it() -> None:
    guard = Guard(limit=2, keep_seconds=0)
    release = guard.memory.release
    released = asyncio.Event()

    async def watched(held: HeldSlot) -> None:
        await release(held)
        released.set()

    guard.memory.release = watched  # type: ignore[method-assign]
    await run_calls(guard, "t1", 1)
    await asyncio.wait_for(released.wait(), 10)  # no call came for it
    assert guard.memory.releases == 1
    assert guard.memory.count("t1") == 0


async def test_the_limit_holds_while_calls_run_and_a_lowered_limit_drops_kept_slots() -> None:
    guard = Guard(limit=2)
    async with guard.held("t1"), guard.held("t1"):
        with pytest.raises(TenantBusy):
            async with guard.held("t1"):
                raise AssertionError("a third slot was granted")
    assert guard.memory.count("t1") == 2  # both kept

    guard.limit = 1
    async with guard.held("t1"):  # a kept slot serves: the process has no call running
        with pytest.raises(TenantBusy):
            async with guard.held("t1"):
                raise AssertionError("a slot over the lowered limit was granted")
        assert guard.memory.count("t1") == 1  # the other kept slot was released, not handed on
    await guard.aclose()


async def test_a_slot_claimed_a_lease_ago_is_claimed_afresh() -> None:
    guard = Guard(limit=1)
    await run_calls(guard, "t1", 1)
    (kept,) = guard._kept["t1"]
    kept.claimed_at -= LEASE
    await run_calls(guard, "t1", 1)
    assert guard.memory.claims == 2
    assert guard.memory.releases == 1
    await guard.aclose()


async def test_a_slot_found_pruned_at_its_renewal_is_not_handed_on() -> None:
    guard = Guard(limit=1)
    claim = guard._claim
    renew = guard.memory.renew
    renewed = asyncio.Event()

    async def due_at_once(tenant_id: str, limit: int) -> Any:
        slot = await claim(tenant_id, limit)
        slot.lease_until -= LEASE / 2  # its renewal is due now
        guard.memory.holders[tenant_id].pop(slot.held.holder)  # and another claimant pruned it
        return slot

    async def watched(held: HeldSlot, lease_seconds: float) -> bool:
        try:
            return await renew(held, lease_seconds)
        finally:
            renewed.set()

    guard._claim = due_at_once  # type: ignore[method-assign]
    guard.memory.renew = watched  # type: ignore[method-assign]
    async with guard.held("t1"):
        await asyncio.wait_for(renewed.wait(), 10)
    assert "t1" not in guard._kept
    guard._claim = claim  # type: ignore[method-assign]
    await run_calls(guard, "t1", 1)
    assert guard.memory.claims == 2
    await guard.aclose()
