"""Approval-gate tokens (seed 004's task tokens, as data): table ``callback_tokens``, keyed by
``(tenant_id, external_id)`` with GSI ``by_external_id`` for signature authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, is_conditional_failure, values
from ..errors import PermanentError

TOKEN_TTL_GRACE = timedelta(days=7)  # TTL deletes leftovers well after the deadline


@dataclass(frozen=True)
class CallbackToken:
    external_id: str
    token: str
    job_id: str
    tenant_id: str
    workflow_id: str
    step: str
    deadline: datetime

    def item(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "token": self.token,
            "job_id": self.job_id,
            "tenant_id": self.tenant_id,
            "workflow_id": self.workflow_id,
            "step": self.step,
            "deadline": self.deadline.isoformat(),
            "ttl": int((self.deadline + TOKEN_TTL_GRACE).timestamp()),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CallbackToken:
        return cls(
            external_id=item["external_id"],
            token=item["token"],
            job_id=item["job_id"],
            tenant_id=item["tenant_id"],
            workflow_id=item["workflow_id"],
            step=item["step"],
            deadline=datetime.fromisoformat(item["deadline"]),
        )


class CallbackTokenStore:
    """Open gates, keyed by ``(tenant_id, external_id)``: an external id is the tenant's own
    name for something (a Jira story), so another tenant's gate with the same id neither
    blocks nor answers this one. Within a tenant one job at a time may wait for an id."""

    # A signed callback names only the external id; its candidate gates (one per tenant
    # waiting for that id) are few. The bound keeps a hostile caller's work constant.
    MAX_CANDIDATES = 10

    def __init__(self, aws: AwsClients, table: str) -> None:
        self.table = DynamoTable(aws, table)

    async def open(self, token: CallbackToken) -> CallbackToken:
        """Store the token; a redelivery for the same job gets the stored one back."""
        try:
            await self.table.put(
                token.item(), ConditionExpression="attribute_not_exists(external_id)"
            )
            return token
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
        existing = await self.get(token.tenant_id, token.external_id)
        if existing is not None and existing.job_id == token.job_id:
            return existing
        # The first job keeps its gate (its calls went out, the external system may already
        # be answering it); this one fails clearly instead of silently taking the answer.
        raise PermanentError(
            f"external id {token.external_id!r} is already awaited by another job of this "
            "tenant; answer or let that gate time out, then submit again",
            code="external_id_in_use",
        )

    async def get(self, tenant_id: str, external_id: str) -> CallbackToken | None:
        item = await self.table.get({"tenant_id": tenant_id, "external_id": external_id})
        return CallbackToken.from_item(item) if item else None

    async def candidates(self, external_id: str) -> list[CallbackToken]:
        """Every tenant's open gate for this id (for signature authentication only)."""
        items = await self.table.query(
            IndexName="by_external_id",
            KeyConditionExpression="external_id = :e",
            ExpressionAttributeValues=values(e=external_id),
            limit=self.MAX_CANDIDATES,
        )
        return [CallbackToken.from_item(i) for i in items]

    async def take(self, token: CallbackToken) -> bool:
        """Delete the token if it is still this one: True for exactly one caller."""
        try:
            await self.table.delete(
                {"tenant_id": token.tenant_id, "external_id": token.external_id},
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": token.token}},
            )
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
