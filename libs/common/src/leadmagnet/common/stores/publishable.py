"""Publishable keys (``pk_live_…``): browser-safe keys of one tenant for one flow.

A browser cannot keep a secret, so a publishable key only authorises the browser calls of its
one flow (``product_marketing``: upload, create, progress; ``chat_lead``: the widget's beacon),
from its allowed origins, under a per-key rate limit. Like API keys, only the key's SHA-256 is
stored; the key is shown once.

Tables: ``publishable_keys`` (key_hash -> the key's settings; GSI ``by_tenant``),
``publishable_origins`` (origin, key_id -> tenant, flow, channel: CORS preflights and the chat
beacon's origin binding) and ``rate_limits`` (``stores.rate_limits``: fixed one-minute windows
shared by every gateway replica, one conditional UpdateItem per request).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from ..aws import AwsClients
from ..dynamo import DynamoTable, parse_all_stored, parse_stored, values
from ..ids import random_id
from ..models import utcnow
from .rate_limits import RateLimiter
from .tenants import hash_key

PUBLISHABLE_KEY_PREFIX = "pk_live_"
Flow = Literal["product_marketing", "chat_lead"]
FLOWS: tuple[str, ...] = ("product_marketing", "chat_lead")
ANY_ORIGIN = "*"
MAX_RATE_PER_MINUTE = 600
MAX_ORIGINS = 20
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None when ``value``
    is not an http(s) origin (a path other than ``/``, a query, credentials or anything else
    makes it not one).
    ``*`` stays ``*``."""
    value = value.strip()
    if value == ANY_ORIGIN:
        return value
    if len(value) > 300:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        return None  # (a trailing '/' is forgiven: people paste URLs)
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    elif not _HOST.fullmatch(host):
        return None  # browsers send names as punycode: anything else is not an Origin
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"
    return f"{scheme}://{host if ':' not in host else f'[{host}]'}"


class PublishableKey(BaseModel):
    """A key's stored settings (never the key)."""

    key_id: str
    tenant_id: str
    flow: Flow
    allowed_origins: list[str]
    channel: str | None = None
    rate_limit_per_minute: int = Field(ge=1, le=MAX_RATE_PER_MINUTE)
    label: str = ""
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None = None

    def allows_origin(self, origin: str | None) -> bool:
        if ANY_ORIGIN in self.allowed_origins:
            return True
        return origin is not None and origin in self.allowed_origins


class OriginBinding(BaseModel):
    """An active key that allows one origin (an item of ``publishable_origins``)."""

    origin: str
    key_id: str
    key_hash: str
    tenant_id: str
    flow: Flow
    channel: str | None = None


class PublishableKeyStore:
    def __init__(
        self, aws: AwsClients, keys_table: str, origins_table: str, rate_table: str
    ) -> None:
        self.keys = DynamoTable(aws, keys_table)
        self.origins = DynamoTable(aws, origins_table)
        self.rates = RateLimiter(aws, rate_table)

    async def create(
        self,
        tenant_id: str,
        *,
        flow: Flow,
        allowed_origins: list[str],
        channel: str | None,
        rate_limit_per_minute: int,
        label: str = "",
    ) -> tuple[str, PublishableKey]:
        """A new key: (the key itself, shown once; its stored settings)."""
        raw = PUBLISHABLE_KEY_PREFIX + secrets.token_urlsafe(32)
        key = PublishableKey(
            key_id=random_id("pkey", 12),
            tenant_id=tenant_id,
            flow=flow,
            allowed_origins=allowed_origins,
            channel=channel,
            rate_limit_per_minute=rate_limit_per_minute,
            label=label,
            prefix=raw[: len(PUBLISHABLE_KEY_PREFIX) + 4],
            created_at=utcnow(),
        )
        key_hash = hash_key(raw)
        await self.keys.put(
            {"key_hash": key_hash, **key.model_dump(mode="json")},
            ConditionExpression="attribute_not_exists(key_hash)",
        )
        for origin in allowed_origins:
            binding = OriginBinding(
                origin=origin,
                key_id=key.key_id,
                key_hash=key_hash,
                tenant_id=tenant_id,
                flow=flow,
                channel=channel,
            )
            await self.origins.put(binding.model_dump(mode="json"))
        return raw, key

    async def of_tenant(self, tenant_id: str) -> list[PublishableKey]:
        items = await self.keys.query(
            IndexName="by_tenant",
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues=values(t=tenant_id),
        )
        return parse_all_stored(PublishableKey, items)

    async def revoke(self, tenant_id: str, key_id: str) -> PublishableKey | None:
        """Revoke a key of ``tenant_id`` (None: no such key of this tenant). Effective at once:
        every check reads the key with a strongly consistent GetItem."""
        items = await self.keys.query(
            IndexName="by_tenant",
            KeyConditionExpression="tenant_id = :t AND key_id = :k",
            ExpressionAttributeValues=values(t=tenant_id, k=key_id),
        )
        if not items:
            return None
        item = items[0]
        key = parse_stored(PublishableKey, item)
        if key is None:
            return None
        if key.revoked_at is None:
            now = utcnow()
            await self.keys.update(
                {"key_hash": item["key_hash"]},
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues=values(now=now.isoformat()),
            )
            key = key.model_copy(update={"revoked_at": now})
        for origin in key.allowed_origins:
            await self.origins.delete({"origin": origin, "key_id": key.key_id})
        return key

    async def lookup(self, raw: str) -> PublishableKey | None:
        """The settings of a presented key (revoked ones included), or None."""
        if not raw.startswith(PUBLISHABLE_KEY_PREFIX) or len(raw) > 200:
            return None
        return await self.by_hash(hash_key(raw))

    async def by_hash(self, key_hash: str) -> PublishableKey | None:
        item = await self.keys.get({"key_hash": key_hash}, consistent=True)
        return parse_stored(PublishableKey, item) if item else None

    async def bindings(self, origin: str) -> list[OriginBinding]:
        """The active keys that name ``origin`` exactly (``*`` keys are not included)."""
        if not origin or len(origin) > 300:
            return []
        items = await self.origins.query(
            KeyConditionExpression="origin = :o",
            ExpressionAttributeValues=values(o=origin),
            limit=100,
        )
        return parse_all_stored(OriginBinding, items)

    async def origin_allowed(self, origin: str, flow: str) -> bool:
        """Whether some active key of ``flow`` allows ``origin`` (exactly or with ``*``)."""
        for candidate in (origin, ANY_ORIGIN):
            if any(b.flow == flow for b in await self.bindings(candidate)):
                return True
        return False

    async def hit(self, key_id: str, limit: int, *, now: float | None = None) -> int | None:
        """Count one request of ``key_id`` in the current one-minute window: None when it is
        within ``limit``, else the seconds until the window ends (for ``Retry-After``)."""
        return await self.rates.hit(key_id, limit, now=now)
