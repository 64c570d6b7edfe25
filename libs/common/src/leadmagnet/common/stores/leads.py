"""Lead state with a send lease, attribution records, SMS link tokens and chat channels.

``leads`` (pk ``thread_key`` = ``{tenant}#{thread}``) is the seed's dedupe table: acquiring the
send lease is one conditional UpdateItem, so any number of concurrent triggers send exactly once.
A failed send records the error and a cool-down (``error_until``) before another attempt may take
the lease; a crashed sender's lease expires (``lease_until``). TTLs: 30 days (leads),
180 days (attribution), 7 days (SMS tokens) — DynamoDB deletes expired items lazily, so readers
also compare ``ttl`` with the clock.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from ..aws import AwsClients
from ..dynamo import DynamoTable, deserialize, is_conditional_failure, parse_all_stored, values
from ..errors import ConflictError
from ..models import utcnow
from ..settings import Settings


class ChatChannel(BaseModel):
    """A website chat of a tenant: where its leads go and where transcripts come from."""

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    tenant_id: str
    business_name: str = Field(min_length=1, max_length=200)
    owner_email: str = Field(max_length=254)
    transcript_source: Literal["request", "chatkit"] = "request"
    instructions: str = Field(
        "", max_length=4000, description="What this business needs before a hand-off is ready."
    )
    created_at: datetime = Field(default_factory=utcnow)


LeadStatus = Literal["pending", "sending", "sent", "error"]


class LeadState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    thread_key: str
    tenant_id: str
    thread_id: str
    channel: str
    status: LeadStatus = "pending"
    last_reason: str | None = None
    missing: list[str] = Field(default_factory=list)
    ses_message_id: str | None = None
    error: str | None = None
    error_until: int | None = Field(None, description="Epoch seconds: cool-down after a failure.")
    lease_until: int | None = None
    lease_owner: str | None = None
    triggers: int = 0
    cost_micros: int = 0
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    ttl: int | None = None


DAY = 86_400


def thread_key(tenant_id: str, thread_id: str) -> str:
    return f"{tenant_id}#{thread_id}"


@dataclass(frozen=True)
class Lease:
    acquired: bool
    owner: str | None
    state: LeadState | None  # the current state when not acquired


class LeadStore:
    def __init__(self, aws: AwsClients, settings: Settings, table: Callable[[str], str]) -> None:
        """``table`` resolves a logical table name (``Resources.table``): each table is
        resolved on first use, so a service granted only some of them (the reporter and the
        notifier never touch attribution or SMS tokens) can still use the rest."""
        self.aws = aws
        self.settings = settings
        self._table = table

    @cached_property
    def leads(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("leads"))

    @cached_property
    def attribution(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("lead_attribution"))

    @cached_property
    def sms(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("sms_tokens"))

    @cached_property
    def channels(self) -> DynamoTable:
        return DynamoTable(self.aws, self._table("chat_channels"))

    # ---- channels -------------------------------------------------------------------------

    async def create_channel(self, channel: ChatChannel) -> ChatChannel:
        try:
            await self.channels.put(
                channel.model_dump(mode="json"), ConditionExpression="attribute_not_exists(slug)"
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise ConflictError(f"chat channel {channel.slug!r} is taken") from None
        return channel

    async def channel(self, slug: str) -> ChatChannel | None:
        item = await self.channels.get({"slug": slug}, consistent=False)
        return ChatChannel.model_validate(item) if item else None

    async def channels_of(self, tenant_id: str) -> list[ChatChannel]:
        items = await self.channels.query(
            IndexName="by_tenant",
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues=values(t=tenant_id),
        )
        return parse_all_stored(ChatChannel, items)

    # ---- lead state -----------------------------------------------------------------------

    def _ttl(self) -> int:
        return int(time.time()) + self.settings.lead_dedupe_ttl_days * DAY

    async def get(self, tenant_id: str, thread_id: str) -> LeadState | None:
        item = await self.leads.get({"thread_key": thread_key(tenant_id, thread_id)})
        if not item or (item.get("ttl") and item["ttl"] < time.time()):
            return None
        return LeadState.model_validate(item)

    async def list_for_tenant(
        self, tenant_id: str, *, limit: int, channel: str | None = None, max_pages: int = 5
    ) -> tuple[list[LeadState], bool]:
        """The tenant's threads, most recently updated first, through the ``by_tenant`` index
        (tenant_id, updated_at); at most ``max_pages`` reads. True when threads were left out."""
        kwargs: dict[str, Any] = {
            "TableName": self.leads.name,
            "IndexName": "by_tenant",
            "KeyConditionExpression": "tenant_id = :t",
            "ScanIndexForward": False,
            "Limit": limit,
            "ExpressionAttributeValues": values(t=tenant_id, **({"c": channel} if channel else {})),
        }
        if channel:
            kwargs |= {"FilterExpression": "#c = :c", "ExpressionAttributeNames": {"#c": "channel"}}
        states: list[LeadState] = []
        now = time.time()
        for _ in range(max_pages):
            resp = await self.leads.client.query(**kwargs)
            items = [deserialize(raw) for raw in resp.get("Items", [])]
            live = [i for i in items if not (i.get("ttl") and i["ttl"] < now)]  # TTL lags
            states += parse_all_stored(LeadState, live)
            last = resp.get("LastEvaluatedKey")
            if len(states) >= limit:
                return states[:limit], bool(last) or len(states) > limit
            if not last:
                return states, False
            kwargs["ExclusiveStartKey"] = last
        return states, True

    async def note(
        self,
        tenant_id: str,
        thread_id: str,
        channel: str,
        reason: str,
        *,
        missing: list[str] | None = None,
        cost_micros: int = 0,
        count_trigger: bool = False,
    ) -> LeadState:
        """Record a trigger's outcome (a skip reason or 'queued') without touching a send."""
        item = await self.leads.update(
            {"thread_key": thread_key(tenant_id, thread_id)},
            UpdateExpression=(
                "SET #tenant = :t, #thread = :th, #channel = :c, #reason = :r, "
                "#missing = :m, #updated = :u, #ttl = if_not_exists(#ttl, :ttl), "
                "#s = if_not_exists(#s, :pending) ADD #triggers :n, #cost :cost"
            ),
            ExpressionAttributeNames={
                "#s": "status",
                "#ttl": "ttl",
                "#tenant": "tenant_id",
                "#thread": "thread_id",
                "#channel": "channel",
                "#reason": "last_reason",
                "#missing": "missing",
                "#updated": "updated_at",
                "#triggers": "triggers",
                "#cost": "cost_micros",
            },
            ExpressionAttributeValues=values(
                t=tenant_id,
                th=thread_id,
                c=channel,
                r=reason,
                m=missing or [],
                u=utcnow().isoformat(),
                ttl=self._ttl(),
                pending="pending",
                n=1 if count_trigger else 0,
                cost=cost_micros,
            ),
            ReturnValues="ALL_NEW",
        )
        return LeadState.model_validate(item)

    async def acquire_lease(self, tenant_id: str, thread_id: str, channel: str) -> Lease:
        now = int(time.time())
        owner = uuid.uuid4().hex
        try:
            item = await self.leads.update(
                {"thread_key": thread_key(tenant_id, thread_id)},
                UpdateExpression=(
                    "SET #s = :sending, #lease = :lease, #owner = :owner, "
                    "#tenant = :t, #thread = :th, #channel = :c, #updated = :u, "
                    "#ttl = :ttl REMOVE #e"
                ),
                ConditionExpression=(
                    "attribute_not_exists(thread_key) OR #s = :pending OR "
                    "(#s = :sending AND #lease < :now) OR "
                    "(#s = :error AND (attribute_not_exists(#until) OR #until < :now))"
                ),
                ExpressionAttributeNames={
                    "#s": "status",
                    "#ttl": "ttl",
                    "#e": "error",
                    "#lease": "lease_until",
                    "#owner": "lease_owner",
                    "#tenant": "tenant_id",
                    "#thread": "thread_id",
                    "#channel": "channel",
                    "#updated": "updated_at",
                    "#until": "error_until",
                },
                ExpressionAttributeValues=values(
                    sending="sending",
                    pending="pending",
                    error="error",
                    now=now,
                    lease=now + self.settings.lead_send_lease_seconds,
                    owner=owner,
                    t=tenant_id,
                    th=thread_id,
                    c=channel,
                    u=utcnow().isoformat(),
                    ttl=self._ttl(),
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Lease(True, owner, LeadState.model_validate(item))
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            old = e.response.get("Item")
            return Lease(False, None, LeadState.model_validate(deserialize(old)) if old else None)

    async def _finish(
        self,
        tenant_id: str,
        thread_id: str,
        owner: str,
        expr: str,
        names: dict[str, str],
        **vals: Any,
    ) -> None:
        try:
            await self.leads.update(
                {"thread_key": thread_key(tenant_id, thread_id)},
                UpdateExpression=expr,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={**names, "#owner": "lease_owner"},
                ExpressionAttributeValues=values(owner=owner, **vals),
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise ConflictError(f"lost the send lease of thread {thread_id}") from None

    async def mark_sent(self, tenant_id: str, thread_id: str, owner: str, message_id: str) -> None:
        await self._finish(
            tenant_id,
            thread_id,
            owner,
            "SET #s = :sent, #mid = :mid, #sent = :at, #updated = :at, #reason = :r REMOVE #lease",
            {
                "#s": "status",
                "#mid": "ses_message_id",
                "#sent": "sent_at",
                "#updated": "updated_at",
                "#reason": "last_reason",
                "#lease": "lease_until",
            },
            sent="sent",
            mid=message_id,
            at=utcnow().isoformat(),
            r="sent",
        )

    async def mark_error(self, tenant_id: str, thread_id: str, owner: str, error: str) -> None:
        await self._finish(
            tenant_id,
            thread_id,
            owner,
            "SET #s = :error, #e = :msg, error_until = :until, updated_at = :at REMOVE lease_until",
            {"#s": "status", "#e": "error"},
            error="error",
            msg=error[:1000],
            until=int(time.time()) + self.settings.lead_error_cooldown_seconds,
            at=utcnow().isoformat(),
        )

    # ---- attribution and SMS links -------------------------------------------------------

    async def put_attribution(self, tenant_id: str, thread_id: str, record: dict[str, Any]) -> None:
        await self.attribution.put(
            {
                "thread_key": thread_key(tenant_id, thread_id),
                **record,
                "ttl": int(time.time()) + self.settings.lead_attribution_ttl_days * DAY,
            }
        )

    async def attribution_of(self, tenant_id: str, thread_id: str) -> dict[str, Any] | None:
        return await self.attribution.get({"thread_key": thread_key(tenant_id, thread_id)})

    async def create_sms_token(
        self, phone: str, body: str, *, tenant_id: str, thread_id: str
    ) -> str:
        token = secrets.token_urlsafe(24)
        await self.sms.put(
            {
                "token": token,
                "phone": phone,
                "body": body[:600],
                "tenant_id": tenant_id,
                "thread_id": thread_id,
                "ttl": int(time.time()) + self.settings.sms_link_token_ttl_days * DAY,
            }
        )
        return token

    async def sms_token(self, token: str) -> dict[str, Any] | None:
        """The token's item, expired ones included (the caller answers 410 for those)."""
        if not 16 <= len(token) <= 64:
            return None
        return await self.sms.get({"token": token})
