"""Resolve logical topology names to physical names, URLs and ARNs (cached per process)."""

from __future__ import annotations

import asyncio

from .aws import AwsClients
from .topology import Topology, load_topology


class Resources:
    """Names for one service. ``service`` (a topology service) limits tables and buckets to
    what its topology entry grants — what Terraform's IAM policy grants it too, so a path that
    reaches for anything else fails here, in every test, not with AccessDenied in AWS."""

    def __init__(
        self, aws: AwsClients, topology: Topology | None = None, *, service: str | None = None
    ) -> None:
        self.aws = aws
        self.settings = aws.settings
        self.topology = topology or load_topology()
        self.access = self.topology.services.get(service) if service else None
        self.service = service
        self._queue_urls: dict[str, str] = {}
        self._account: str | None = None
        self._lock = asyncio.Lock()

    def name(self, logical: str) -> str:
        return self.settings.name(logical)

    def table(self, logical: str) -> str:
        if logical not in self.topology.tables:
            raise KeyError(f"table {logical!r} is not in the topology")
        if self.access is not None and logical not in self.access.tables:
            raise PermissionError(
                f"{self.service} is not granted table {logical!r} "
                f"(topology.json: services.{self.service}.tables)"
            )
        return self.name(logical)

    def bucket(self, logical: str) -> str:
        if logical not in self.topology.buckets:
            raise KeyError(f"bucket {logical!r} is not in the topology")
        if self.access is not None and logical not in self.access.buckets:
            raise PermissionError(
                f"{self.service} is not granted bucket {logical!r} "
                f"(topology.json: services.{self.service}.buckets)"
            )
        return self.name(logical)

    @staticmethod
    def dlq_name(queue_name: str) -> str:
        return f"{queue_name}-dlq"

    async def queue_url(self, logical: str, *, dlq: bool = False) -> str:
        name = self.name(logical)
        if dlq:
            name = self.dlq_name(name)
        if name not in self._queue_urls:
            resp = await self.aws.sqs.get_queue_url(QueueName=name)
            self._queue_urls[name] = resp["QueueUrl"]
        return self._queue_urls[name]

    async def account_id(self) -> str:
        async with self._lock:
            if self._account is None:
                self._account = (await self.aws.sts.get_caller_identity())["Account"]
        return self._account

    async def topic_arn(self, logical: str = "events") -> str:
        if logical not in self.topology.topics:
            raise KeyError(f"topic {logical!r} is not in the topology")
        account = await self.account_id()
        return f"arn:aws:sns:{self.settings.aws_region}:{account}:{self.name(logical)}"

    async def queue_arn(self, logical: str, *, dlq: bool = False) -> str:
        account = await self.account_id()
        name = self.name(logical)
        name = self.dlq_name(name) if dlq else name
        return f"arn:aws:sqs:{self.settings.aws_region}:{account}:{name}"
