"""Tenants and their API keys (stored as SHA-256 hashes; the key itself is shown once)."""

from __future__ import annotations

import hashlib
import secrets

from ..aws import AwsClients
from ..dynamo import DynamoTable
from ..ids import random_id
from ..models import Tenant, utcnow

API_KEY_PREFIX = "lm_live_"


def hash_key(raw: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(raw.encode()).hexdigest()


class TenantStore:
    def __init__(self, aws: AwsClients, tenants_table: str, keys_table: str) -> None:
        self.tenants = DynamoTable(aws, tenants_table)
        self.keys = DynamoTable(aws, keys_table)

    async def create(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id=tenant_id or random_id("ten", 12), name=name)
        await self.tenants.put(tenant.model_dump(mode="json"))
        return tenant

    async def get(self, tenant_id: str) -> Tenant | None:
        item = await self.tenants.get({"tenant_id": tenant_id})
        return Tenant.model_validate(item) if item else None

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
