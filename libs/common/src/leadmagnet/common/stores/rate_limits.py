"""Fixed one-minute request windows in DynamoDB, shared by every gateway replica.

One mechanism for every per-minute quota (a publishable key's budget, a form's submits): one
conditional UpdateItem per request on the item ``{subject}#{minute}``; a refused update means
the window is full and says how long until it ends (``Retry-After``). Items expire by TTL two
minutes after their window.
"""

from __future__ import annotations

import math
import time

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, is_conditional_failure, values

RATE_WINDOW_SECONDS = 60


class RateLimiter:
    def __init__(self, aws: AwsClients, table: str) -> None:
        self.rates = DynamoTable(aws, table)

    async def hit(self, subject: str, limit: int, *, now: float | None = None) -> int | None:
        """Count one request of ``subject`` in the current one-minute window: None when it is
        within ``limit``, else the seconds until the window ends (for ``Retry-After``). A
        refused request is not counted."""
        now = time.time() if now is None else now
        window = int(now // RATE_WINDOW_SECONDS)
        window_end = (window + 1) * RATE_WINDOW_SECONDS
        try:
            await self.rates.update(
                {"bucket": f"{subject}#{window}"},
                UpdateExpression="ADD n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values(one=1, limit=limit, ttl=window_end + 120),
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return max(1, math.ceil(window_end - now))
            raise
        return None


def form_subject(tenant_id: str, slug: str) -> str:
    """A form's quota subject; tenant-scoped, and never a publishable key id (``pkey_…``)."""
    return f"form:{tenant_id}:{slug}"
