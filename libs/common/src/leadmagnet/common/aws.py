"""AWS clients: created once per process and reused, never per message.

Endpoints come from the standard SDK variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SQS``...),
which botocore reads itself. Every API call is counted by (service, operation) so benchmarks and
tests can see what a job costs in requests.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from .settings import Settings

SERVICES = ("sqs", "sns", "dynamodb", "s3", "ses", "secretsmanager", "sts")


class AwsClients:
    """Holds one long-lived aiobotocore client per AWS service.

    Use as ``async with AwsClients(settings) as aws: await aws.sqs.send_message(...)``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.call_counts: Counter[tuple[str, str]] = Counter()
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._session = get_session()
        self._config = AioConfig(
            region_name=settings.aws_region,
            max_pool_connections=settings.aws_max_pool_connections,
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=5,
            read_timeout=60,  # above the 20 s SQS long poll
            s3={"addressing_style": "path"},
            signature_version="s3v4",
        )

    async def __aenter__(self) -> AwsClients:
        for name in SERVICES:
            client = await self._stack.enter_async_context(
                self._session.create_client(name, config=self._config)
            )
            client.meta.events.register("before-call", self._count)
            self._clients[name] = client
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self._clients.clear()

    def _count(self, model: Any, **_: Any) -> None:
        self.call_counts[(model.service_model.service_name, model.name)] += 1

    def _get(self, name: str) -> Any:
        try:
            return self._clients[name]
        except KeyError:
            raise RuntimeError("AwsClients used outside 'async with'") from None

    @property
    def sqs(self) -> Any:
        return self._get("sqs")

    @property
    def sns(self) -> Any:
        return self._get("sns")

    @property
    def dynamodb(self) -> Any:
        return self._get("dynamodb")

    @property
    def s3(self) -> Any:
        return self._get("s3")

    @property
    def ses(self) -> Any:
        return self._get("ses")

    @property
    def secretsmanager(self) -> Any:
        return self._get("secretsmanager")

    @property
    def sts(self) -> Any:
        return self._get("sts")
