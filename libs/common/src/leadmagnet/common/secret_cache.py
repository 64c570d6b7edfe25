"""Secrets Manager reads, cached per process."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from .aws import AwsClients
from .errors import PermanentError


class SecretCache:
    """Secrets Manager values, cached per process for a few minutes; never logged."""

    def __init__(self, aws: AwsClients, ttl_seconds: float = 300) -> None:
        self.aws = aws
        self.ttl = ttl_seconds
        self._values: dict[str, tuple[float, str]] = {}

    async def get(self, secret_id: str) -> str:
        cached = self._values.get(secret_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            resp = await self.aws.secretsmanager.get_secret_value(SecretId=secret_id)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            raise PermanentError(f"secret {secret_id!r} is unavailable ({code})") from None
        value = str(resp["SecretString"])
        self._values[secret_id] = (time.monotonic(), value)
        return value
