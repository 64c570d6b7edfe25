"""Per-tenant limits: what is in force for a tenant, and the model-slot guard around model calls.

A tenant's limits are its own ``limits`` map (``stores.tenants.TenantLimits``) over the
platform's defaults (settings). Two are enforced:

- ``model_concurrency``: model calls in flight at once over every worker replica, counted by a
  DynamoDB semaphore (``stores.model_slots``). A call that finds no free slot raises
  ``TenantBusy`` (a ``Deferred``): the consumer puts the message back for later without spending
  its receive budget, and the worker slot goes to someone else's job meanwhile. A worker hands
  a freed slot on to its next call of the same tenant for a few seconds (``ModelSlotGuard``).
- ``submits_per_minute``: per public form, checked by the gateway (``stores.rate_limits``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import Deferred
from .logging import get_logger
from .platform import Platform
from .providers.base import Provider
from .settings import Settings
from .stores.model_slots import HeldSlot, ModelSlots, NoSlot
from .stores.tenants import TenantLimits

log = get_logger()
T = TypeVar("T")

LIMITS_CACHE_SECONDS = 30.0  # a changed limit reaches the workers within this
OFFLINE = "offline"  # the provider name of local, model-free answers


class TenantBusy(Deferred):
    """Every model slot of the job's tenant is taken: the job waits its turn (not a failure)."""

    def __init__(self, tenant_id: str, limit: int, retry_after: float) -> None:
        super().__init__(
            f"tenant {tenant_id} has {limit} model call(s) in flight, its limit; this one waits",
            code="tenant_busy",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class EffectiveLimits:
    model_concurrency: int
    submits_per_minute: int


def defaults(settings: Settings) -> EffectiveLimits:
    return EffectiveLimits(
        model_concurrency=settings.tenant_model_concurrency,
        submits_per_minute=settings.form_submits_per_minute,
    )


def in_force(own: TenantLimits, settings: Settings) -> EffectiveLimits:
    """The tenant's own limits where set, else the platform's defaults."""
    base = defaults(settings)
    return EffectiveLimits(
        model_concurrency=own.model_concurrency or base.model_concurrency,
        submits_per_minute=own.submits_per_minute or base.submits_per_minute,
    )


async def limits_of(platform: Platform, tenant_id: str) -> EffectiveLimits:
    """The tenant's limits in force, as read within ``LIMITS_CACHE_SECONDS`` by this process."""
    own = await platform.tenants.recent_limits(tenant_id, LIMITS_CACHE_SECONDS)
    return in_force(own, platform.settings)


@dataclass(eq=False)
class _Slot:
    """A slot this process holds: its lease as last written, and when it was claimed."""

    held: HeldSlot
    lease_until: float
    claimed_at: float
    lost: bool = False  # a renewal found it pruned: no longer ours
    unkeep: asyncio.TimerHandle | None = None  # its release when kept and not handed on


class ModelSlotGuard:
    """One per worker process: the slots store (each tenant's limit comes from ``limits_of``,
    read at most every ``LIMITS_CACHE_SECONDS``).

    A freed slot is kept ``keep_seconds`` for this process's next call of the same tenant (it
    stays counted in the shared budget meanwhile), then released: a busy worker hands its slots
    from call to call without two DynamoDB writes each. By default it is kept as long as a job
    deferred by a busy tenant waits (``tenant_busy_retry_seconds``; a quarter of a lease at
    most, as a kept slot is not renewed), so an idle kept slot holds back another replica's call
    of the tenant by one deferral at most. A kept slot is handed on only within one lease of its
    claim and while the process's calls of the tenant are under the limit just read, so a
    lowered limit still takes hold (at the latest one lease after it is read). Kept slots are
    released when the platform closes."""

    def __init__(self, platform: Platform, *, keep_seconds: float | None = None) -> None:
        self.platform = platform
        settings = platform.settings
        if keep_seconds is None:
            keep_seconds = min(
                settings.tenant_busy_retry_seconds, settings.model_slot_lease_seconds / 4
            )
        self.keep_seconds = keep_seconds
        self._kept: dict[str, list[_Slot]] = {}
        self._in_use: collections.Counter[str] = collections.Counter()
        self._releasing: set[asyncio.Task[None]] = set()

    @functools.cached_property
    def slots(self) -> ModelSlots:
        return ModelSlots(self.platform.aws, self.platform.resources.table("model_slots"))

    async def concurrency(self, tenant_id: str) -> int:
        return (await limits_of(self.platform, tenant_id)).model_concurrency

    @contextlib.asynccontextmanager
    async def held(self, tenant_id: str) -> AsyncIterator[None]:
        """One of the tenant's slots for the block, renewed while it runs; TenantBusy if none."""
        limit = await self.concurrency(tenant_id)
        lease = self.platform.settings.model_slot_lease_seconds
        slot = await self._handed_on(tenant_id, limit, lease) or await self._claim(tenant_id, limit)
        self._in_use[tenant_id] += 1
        renewing = asyncio.create_task(self._renew(slot, lease))
        try:
            yield
        finally:
            self._in_use[tenant_id] -= 1
            if not self._in_use[tenant_id]:
                del self._in_use[tenant_id]
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            self._keep(slot)

    async def _claim(self, tenant_id: str, limit: int) -> _Slot:
        settings = self.platform.settings
        lease = settings.model_slot_lease_seconds
        now = time.time()
        claim = await self.slots.acquire(
            tenant_id, limit, lease, retry_after=settings.tenant_busy_retry_seconds, now=now
        )
        if isinstance(claim, NoSlot):
            log.info("tenant.busy", tenant_id=tenant_id, limit=limit, retry_after=claim.retry_after)
            raise TenantBusy(tenant_id, limit, claim.retry_after)
        return _Slot(claim, lease_until=now + lease, claimed_at=now)

    async def _handed_on(self, tenant_id: str, limit: int, lease: float) -> _Slot | None:
        """A kept slot of the tenant's, if one may serve another call; those that may not are
        released first (a claim would count them)."""
        kept = self._kept.get(tenant_id)
        now = time.time()
        while kept:
            slot = kept.pop()
            if not kept:
                del self._kept[tenant_id]
            if slot.unkeep is not None:
                slot.unkeep.cancel()
            fresh = now - slot.claimed_at < lease and slot.lease_until - now > lease / 3
            if fresh and self._in_use[tenant_id] < limit:
                return slot
            await self._release(slot)
        return None

    def _keep(self, slot: _Slot) -> None:
        if slot.lost:
            return
        self._kept.setdefault(slot.held.tenant_id, []).append(slot)
        slot.unkeep = asyncio.get_running_loop().call_later(self.keep_seconds, self._unkeep, slot)

    def _unkeep(self, slot: _Slot) -> None:
        kept = self._kept.get(slot.held.tenant_id, [])
        if slot in kept:  # not handed on meanwhile
            kept.remove(slot)
            if not kept:
                del self._kept[slot.held.tenant_id]
            self._release_soon(slot)

    def _release_soon(self, slot: _Slot) -> None:
        task = asyncio.create_task(self._release(slot))
        self._releasing.add(task)  # a reference until done: the loop keeps only weak ones
        task.add_done_callback(self._releasing.discard)

    async def _release(self, slot: _Slot) -> None:
        try:
            await self.slots.release(slot.held)
        except Exception as e:  # the lease frees the slot by itself
            log.warning("model_slot.release_failed", tenant_id=slot.held.tenant_id, error=str(e))

    async def _renew(self, slot: _Slot, lease: float) -> None:
        """Renew when a third of the lease has passed since it was last written."""
        while True:
            await asyncio.sleep(max(0.0, slot.lease_until - lease * 2 / 3 - time.time()))
            now = time.time()
            try:
                if not await self.slots.renew(slot.held, lease):
                    slot.lost = True
                    log.warning(
                        "model_slot.lost", tenant_id=slot.held.tenant_id, holder=slot.held.holder
                    )
                    return
                slot.lease_until = now + lease
            except Exception as e:  # keep trying: the lease still has most of its time to run
                log.warning("model_slot.renew_failed", tenant_id=slot.held.tenant_id, error=str(e))
                await asyncio.sleep(lease / 9)

    async def aclose(self) -> None:
        """Release the kept slots (the platform closes its shared objects on shutdown)."""
        for kept in self._kept.values():
            for slot in kept:
                if slot.unkeep is not None:
                    slot.unkeep.cancel()
                self._release_soon(slot)
        self._kept.clear()
        if self._releasing:
            await asyncio.gather(*self._releasing)


def slot_guard(platform: Platform) -> ModelSlotGuard:
    return platform.shared("tenant_model_slots", lambda _settings: ModelSlotGuard(platform))


async def within_model_slot(
    platform: Platform, tenant_id: str, provider: Provider, call: Callable[[], Awaitable[T]]
) -> T:
    """``call()`` (one model call for ``tenant_id``: a job's, or a chat thread's summary) while
    holding one of the tenant's model slots. Raises TenantBusy, without calling, when the tenant
    is at its limit. The offline provider is local work, not a model: it takes no slot."""
    if provider.name == OFFLINE:
        return await call()
    async with slot_guard(platform).held(tenant_id):
        return await call()
