"""Everything a service needs, built once per process: clients, resolver, bus and stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .aws import AwsClients
from .bus import EventBus
from .dlq import DeadLetters
from .idempotency import IdempotencyStore
from .netguard import SafeHttp
from .resources import Resources
from .secret_cache import SecretCache
from .settings import Settings
from .stores import (
    ArtifactStore,
    FormStore,
    JobStore,
    SubmissionStore,
    TenantStore,
    VersionedDocuments,
    WorkflowStore,
)
from .stores.callback_tokens import CallbackTokenStore
from .stores.leads import LeadStore
from .topology import Topology

if TYPE_CHECKING:
    from .providers import Providers

T = TypeVar("T")


class Platform:
    """A service's composition root: clients and resolver now, each store on first use.

    A service builds only the stores its stages and routes touch, and only over the tables and
    buckets its topology entry grants (``Resources``): the imager never holds a leads store,
    and asking for one fails loudly (as IAM would in AWS).
    """

    def __init__(self, aws: AwsClients, service: str, topology: Topology | None = None) -> None:
        self.service = service
        self.settings: Settings = aws.settings
        self.aws = aws
        self.resources = Resources(aws, topology, service=service)
        self.bus = EventBus(self.resources, service=service)
        self.secrets = SecretCache(aws)
        self._providers: Providers | None = None
        self._http: SafeHttp | None = None
        self._shared: dict[str, Any] = {}

    @cached_property
    def jobs(self) -> JobStore:
        r = self.resources
        return JobStore(self.aws, r.table("jobs"), r.table("job_events"))

    @cached_property
    def tenants(self) -> TenantStore:
        return TenantStore(self.aws, self.resources.table)

    @cached_property
    def workflows(self) -> WorkflowStore:
        return WorkflowStore(self.aws, self.resources.table("workflows"))

    @cached_property
    def templates(self) -> VersionedDocuments:
        return VersionedDocuments(self.aws, self.resources.table("templates"), label="template")

    @cached_property
    def forms(self) -> FormStore:
        return FormStore(self.aws, self.resources.table("forms"))

    @cached_property
    def submissions(self) -> SubmissionStore:
        return SubmissionStore(self.aws, self.resources.table("submissions"))

    @cached_property
    def artifacts(self) -> ArtifactStore:
        r = self.resources
        return ArtifactStore(self.aws, self.settings, r.table("artifacts"), r.bucket("artifacts"))

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        return IdempotencyStore(self.aws, self.resources.table("idempotency"))

    @cached_property
    def leads(self) -> LeadStore:
        return LeadStore(self.aws, self.settings, self.resources.table)

    @cached_property
    def callbacks(self) -> CallbackTokenStore:
        return CallbackTokenStore(self.aws, self.resources.table("callback_tokens"))

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.aws, self.resources)

    def shared(self, key: str, build: Callable[[Settings], T]) -> T:
        """A per-process object a flow builds on first use (an SDK client): the ground floor
        keeps it and closes it (``aclose``) with the platform, without knowing what it is."""
        if key not in self._shared:
            self._shared[key] = build(self.settings)
        value: T = self._shared[key]
        return value

    @property
    def http(self) -> SafeHttp:
        """The SSRF-guarded outbound HTTP client (webhooks, side calls, fetches)."""
        if self._http is None:
            self._http = SafeHttp(
                allow_private=self.settings.allow_private_targets,
                timeout=self.settings.webhook_timeout_seconds,
            )
        return self._http

    @property
    def providers(self) -> Providers:
        """Text/vision/image providers, created on first use (workers that never call an LLM
        never build SDK clients)."""
        if self._providers is None:
            from .providers import create_providers

            self._providers = create_providers(self.settings, aws=self.aws)
        return self._providers

    async def aclose(self) -> None:
        if self._providers is not None:
            await self._providers.aclose()
        if self._http is not None:
            await self._http.aclose()
        for value in self._shared.values():
            close = getattr(value, "aclose", None)
            if close is not None:
                await close()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, service: str, topology: Topology | None = None
    ) -> AsyncIterator[Platform]:
        # Lazy clients: a process creates only those it calls (the imager never loads SES's).
        async with AwsClients(settings, lazy=True) as aws:
            platform = cls(aws, service, topology)
            try:
                yield platform
            finally:
                await platform.aclose()
