"""Tenants and their API keys (stored as SHA-256 hashes; the key itself is shown once), and each
tenant's limits (an optional ``limits`` map on its item; an unset limit is the platform's)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from functools import cached_property

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from ..aws import AwsClients
from ..dynamo import DynamoTable, is_conditional_failure, parse_stored, values
from ..ids import random_id
from ..models import Tenant, utcnow
from ..singleflight import SingleFlight

API_KEY_PREFIX = "lm_live_"
# The platform's ceilings for any tenant (the defaults are settings): a tenant's model slots are
# scanned per call, and a form's counter is one DynamoDB item (hundreds of writes a second at most).
MAX_MODEL_CONCURRENCY = 64
MAX_SUBMITS_PER_MINUTE = 6000


class TenantLimits(BaseModel):
    """A tenant's own limits; None means the platform's default (settings)."""

    model_config = ConfigDict(extra="forbid")

    model_concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_MODEL_CONCURRENCY,
        description="Model calls (text, vision) of this tenant in flight at once, over every "
        "worker replica; more wait (their jobs are deferred, not failed).",
    )
    submits_per_minute: int | None = Field(
        None,
        ge=1,
        le=MAX_SUBMITS_PER_MINUTE,
        description="Submissions a minute per public form of this tenant (the JSON submit and "
        "the hosted form page); more answer 429 with Retry-After.",
    )


def hash_key(raw: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(raw.encode()).hexdigest()


class TenantLimitsStore:
    """The ``limits`` map of tenant items (``TenantStore.limits``/``set_limits``)."""

    def __init__(self, tenants: DynamoTable) -> None:
        self.tenants = tenants

    async def get(self, tenant_id: str, *, consistent: bool = False) -> TenantLimits:
        """The tenant's own limits (all None for an unknown tenant or one without any; a stored
        map that no longer validates counts as none, and is logged)."""
        item = await self.tenants.get({"tenant_id": tenant_id}, consistent=consistent)
        stored = (item or {}).get("limits")
        if not isinstance(stored, dict):
            return TenantLimits()
        return parse_stored(TenantLimits, stored) or TenantLimits()

    async def put(self, tenant_id: str, limits: TenantLimits) -> bool:
        """Replace the tenant's limits (False: no such tenant)."""
        try:
            await self.tenants.update(
                {"tenant_id": tenant_id},
                UpdateExpression="SET limits = :limits",
                ConditionExpression="attribute_exists(tenant_id)",
                ExpressionAttributeValues=values(limits=limits.model_dump()),
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True


class TenantStore:
    def __init__(self, aws: AwsClients, table: Callable[[str], str]) -> None:
        """``table`` resolves a logical name (``Resources.table``) on first use: a worker that
        reads a tenant's settings is granted ``tenants``, not the API keys."""
        self.aws = aws
        self._table = table
        self._recent: dict[str, tuple[float, TenantLimits]] = {}
        self._limit_reads: SingleFlight[TenantLimits] = SingleFlight()
        self._limits_changed = 0  # set_limits calls by this process: reads before are stale

    @cached_property
    def tenants(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("tenants"))

    @cached_property
    def keys(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("api_keys"))

    async def create(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id=tenant_id or random_id("ten", 12), name=name)
        await self.tenants.put(tenant.model_dump(mode="json"))
        return tenant

    async def get(self, tenant_id: str) -> Tenant | None:
        item = await self.tenants.get({"tenant_id": tenant_id})
        return Tenant.model_validate(item) if item else None

    async def limits(self, tenant_id: str, *, consistent: bool = False) -> TenantLimits:
        return await TenantLimitsStore(self.tenants).get(tenant_id, consistent=consistent)

    async def recent_limits(self, tenant_id: str, max_age: float) -> TenantLimits:
        """The tenant's limits as read at most ``max_age`` seconds ago by this process (a
        change made here is seen at once; one made elsewhere within ``max_age``). The jobs
        that find the entry expired together share one read."""
        cached = self._recent.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        changed = self._limits_changed
        limits = await self._limit_reads.run((tenant_id, changed), lambda: self.limits(tenant_id))
        if changed == self._limits_changed:  # else a change made here meanwhile: not kept
            if len(self._recent) >= 4096:
                self._recent.clear()
            self._recent[tenant_id] = (time.monotonic() + max_age, limits)
        return limits

    async def set_limits(self, tenant_id: str, limits: TenantLimits) -> bool:
        self._recent.pop(tenant_id, None)
        self._limits_changed += 1
        try:
            return await TenantLimitsStore(self.tenants).put(tenant_id, limits)
        finally:
            self._limits_changed += 1  # reads that started during the write are stale too

    async def issue_key(self, tenant_id: str, label: str = "admin") -> str:
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        await self.keys.put(
            {
                "key_hash": hash_key(raw),
                "tenant_id": tenant_id,
                "label": label,
                "created_at": utcnow().isoformat(),
            },
            ConditionExpression="attribute_not_exists(key_hash)",
        )
        return raw

    async def authenticate(self, raw: str) -> str | None:
        """Tenant id for a presented key, or None."""
        if not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
            return None
        item = await self.keys.get({"key_hash": hash_key(raw)}, consistent=False)
        return str(item["tenant_id"]) if item else None

    async def revoke(self, raw: str) -> None:
        await self.keys.delete({"key_hash": hash_key(raw)})
