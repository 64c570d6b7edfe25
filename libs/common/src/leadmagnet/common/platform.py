"""Everything a service needs, built once per process: clients, resolver, bus and stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
    def __init__(self, aws: AwsClients, service: str, topology: Topology | None = None) -> None:
        self.service = service
        self.settings: Settings = aws.settings
        self.aws = aws
        self.resources = r = Resources(aws, topology)
        self.bus = EventBus(r, service=service)
        self.jobs = JobStore(aws, r.table("jobs"), r.table("job_events"))
        self.tenants = TenantStore(aws, r.table("tenants"), r.table("api_keys"))
        self.workflows = WorkflowStore(aws, r.table("workflows"))
        self.templates = VersionedDocuments(aws, r.table("templates"), label="template")
        self.forms = FormStore(aws, r.table("forms"))
        self.submissions = SubmissionStore(aws, r.table("submissions"))
        self.artifacts = ArtifactStore(
            aws, self.settings, r.table("artifacts"), r.bucket("artifacts")
        )
        self.idempotency = IdempotencyStore(aws, r.table("idempotency"))
        self.leads = LeadStore(
            aws,
            self.settings,
            leads=r.table("leads"),
            attribution=r.table("lead_attribution"),
            sms_tokens=r.table("sms_tokens"),
            channels=r.table("chat_channels"),
        )
        self.callbacks = CallbackTokenStore(aws, r.table("callback_tokens"))
        self.secrets = SecretCache(aws)
        self.dead_letters = DeadLetters(aws, r)
        self._providers: Providers | None = None
        self._http: SafeHttp | None = None
        self._shared: dict[str, Any] = {}

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
        async with AwsClients(settings) as aws:
            platform = cls(aws, service, topology)
            try:
                yield platform
            finally:
                await platform.aclose()
