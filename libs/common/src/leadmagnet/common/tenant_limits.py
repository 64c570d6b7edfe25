"""Per-tenant limits: what is in force for a tenant, and the model-slot guard around model calls.

A tenant's limits are its own ``limits`` map (``stores.tenants.TenantLimits``) over the
platform's defaults (settings). Two are enforced:

- ``model_concurrency``: model calls in flight at once over every worker replica, counted by a
  DynamoDB semaphore (``stores.model_slots``). A call that finds no free slot raises
  ``TenantBusy`` (a ``Deferred``): the consumer puts the message back for later without spending
  its receive budget, and the worker slot goes to someone else's job meanwhile.
- ``submits_per_minute``: per public form, checked by the gateway (``stores.rate_limits``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
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


class ModelSlotGuard:
    """One per worker process: the slots store (each tenant's limit comes from ``limits_of``,
    read at most every ``LIMITS_CACHE_SECONDS``)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    @functools.cached_property
    def slots(self) -> ModelSlots:
        return ModelSlots(self.platform.aws, self.platform.resources.table("model_slots"))

    async def concurrency(self, tenant_id: str) -> int:
        return (await limits_of(self.platform, tenant_id)).model_concurrency

    @contextlib.asynccontextmanager
    async def held(self, tenant_id: str) -> AsyncIterator[None]:
        """One of the tenant's slots for the block, renewed while it runs; TenantBusy if none."""
        settings = self.platform.settings
        limit = await self.concurrency(tenant_id)
        lease = settings.model_slot_lease_seconds
        claim = await self.slots.acquire(
            tenant_id, limit, lease, retry_after=settings.tenant_busy_retry_seconds
        )
        if isinstance(claim, NoSlot):
            log.info("tenant.busy", tenant_id=tenant_id, limit=limit, retry_after=claim.retry_after)
            raise TenantBusy(tenant_id, limit, claim.retry_after)
        renewing = asyncio.create_task(self._renew(claim, lease))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            try:
                await self.slots.release(claim)
            except Exception as e:  # the lease frees the slot by itself
                log.warning("model_slot.release_failed", tenant_id=tenant_id, error=str(e))

    async def _renew(self, held: HeldSlot, lease: float) -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await self.slots.renew(held, lease):
                    log.warning("model_slot.lost", tenant_id=held.tenant_id, slot=held.slot)
                    return
            except Exception as e:  # keep trying: the lease still has two thirds to run
                log.warning("model_slot.renew_failed", tenant_id=held.tenant_id, error=str(e))


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
