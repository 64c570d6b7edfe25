"""AWS clients: created once per process and reused, never per message.

Endpoints come from the standard SDK variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SQS``...),
which botocore reads itself. Every API call is counted by (service, operation) so benchmarks and
tests can see what a job costs in requests.

A client whose endpoint is local (loopback: moto, LocalStack) gets the dummy credentials
``make run`` uses when none are configured (environment, profile, SSO, container...; the instance
metadata service is not asked), so ``AWS_ENDPOINT_URL=http://127.0.0.1:4566 leadmagnet ...`` just
works. A client bound for AWS never gets them: without credentials it fails as the SDK does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections import Counter
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.credentials import create_credential_resolver
from aiobotocore.session import get_session
from botocore.context import get_context
from botocore.exceptions import BotoCoreError

from . import tracing
from .aws_data import use_trimmed_data
from .aws_tls import SharedTlsSession
from .settings import Settings

SERVICES = ("sqs", "sns", "dynamodb", "s3", "ses", "secretsmanager", "sts")

# The per-service SDK variable suffix (botocore: the service id, upper case, spaces as "_").
_ENDPOINT_VARIABLES = {
    "sqs": "SQS",
    "sns": "SNS",
    "dynamodb": "DYNAMODB",
    "s3": "S3",
    "ses": "SES",
    "secretsmanager": "SECRETS_MANAGER",
    "sts": "STS",
}
# Names the process in every call's User-Agent (``leadmagnet/<service>``): an endpoint can then
# tell which service made a call (the benchmarks' per-service counts; CloudTrail's userAgent).
SERVICE_VARIABLE = "LEADMAGNET_SERVICE"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# What `make run` (leadmagnet dev) gives its processes; any value works for moto and LocalStack.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def endpoint_for(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint the SDK will use for ``service``: its own variable, else AWS_ENDPOINT_URL."""
    env = os.environ if environ is None else environ
    suffix = _ENDPOINT_VARIABLES.get(service, service.upper())
    return env.get(f"AWS_ENDPOINT_URL_{suffix}") or env.get("AWS_ENDPOINT_URL") or None


def is_local_endpoint(url: str | None) -> bool:
    if not url:
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def credentials_configured(session: Any) -> bool:
    """Whether the SDK's chain finds credentials without asking the instance metadata service
    (whose time-outs would slow every local command down)."""
    try:
        resolver = create_credential_resolver(session)
        resolver.remove("iam-role")
        return await resolver.load_credentials() is not None
    except BotoCoreError:
        return True  # something is configured (a broken profile...): let the SDK say what


def cache_user_agent(client: Any) -> None:
    """Build each User-Agent string a client sends once.

    botocore builds the header from scratch twice per request (about a tenth of a call's CPU):
    from parts fixed when the client is made, and the SDK features the request used (retry
    mode, pagination...), which are part of the key here. A botocore without the builder this
    expects keeps its own."""
    creator: Any = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if build is None:
        return
    built: dict[tuple[frozenset[str], frozenset[str]], str] = {}

    def to_string() -> str:
        context = get_context()
        key = (
            frozenset(getattr(creator, "_client_features", None) or ()),
            frozenset(context.features) if context is not None else frozenset(),
        )
        text = built.get(key)
        if text is None:
            text = built[key] = build()
        return text

    creator.to_string = to_string


# Attributes of an aiobotocore client that are not coroutine operations: a client that does not
# exist yet cannot answer them (``await aws.client(name)`` first).
_SYNC_ATTRIBUTES = frozenset(
    {"meta", "exceptions", "get_paginator", "get_waiter", "can_paginate", "waiter_names"}
)


class LazyClient:
    """Stands for a client not created yet: its first operation call creates it, then every
    attribute is the real client's."""

    def __init__(self, owner: AwsClients, service: str) -> None:
        self._owner = owner
        self._service = service

    def __getattr__(self, name: str) -> Any:
        client = self._owner._clients.get(self._service)
        if client is not None:
            return getattr(client, name)
        if name.startswith("_"):  # protocols probe these (hasattr, copy, inspect)
            raise AttributeError(name)
        if name in _SYNC_ATTRIBUTES:
            raise RuntimeError(
                f"the {self._service} client is created on first use: "
                f"await aws.client({self._service!r}) before using .{name}"
            )

        async def operation(*args: Any, **kwargs: Any) -> Any:
            client = await self._owner.client(self._service)
            return await getattr(client, name)(*args, **kwargs)

        return operation


class AwsClients:
    """Holds one long-lived aiobotocore client per AWS service.

    Use as ``async with AwsClients(settings) as aws: await aws.sqs.send_message(...)``.

    ``lazy=True`` (the services' ``Platform``) creates each client on its first call instead of
    all of them up front: creating one loads its service model (a few MiB each), and most
    processes use three or four of the seven. Errors in a client's set-up then surface at that
    first call.
    """

    def __init__(
        self, settings: Settings, *, lazy: bool = False, user_agent_extra: str | None = None
    ) -> None:
        self.settings = settings
        self.lazy = lazy
        if user_agent_extra is None and os.environ.get(SERVICE_VARIABLE):
            user_agent_extra = f"leadmagnet/{os.environ[SERVICE_VARIABLE]}"
        self.call_counts: Counter[tuple[str, str]] = Counter()
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._lazy_clients = {name: LazyClient(self, name) for name in SERVICES}
        self._open = False
        self._creating = asyncio.Lock()  # one creation at a time: concurrent first uses share it
        self._dummy_credentials: dict[str, str] | None = None  # decided on the first local client
        self._session = get_session()
        use_trimmed_data(self._session)  # our services' models only, without documentation
        self._config = AioConfig(
            region_name=settings.aws_region,
            max_pool_connections=settings.aws_max_pool_connections,
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=5,
            read_timeout=60,  # above the 20 s SQS long poll
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            user_agent_extra=user_agent_extra,
            # The SDK's own check of every request against the service model costs CPU on each
            # call (a walk of the parameters; more for the larger items) and catches nothing
            # for our clients: their parameters are built by our stores from validated pydantic
            # models, and the service still rejects a bad request. Extra clients keep it.
            parameter_validation=False,
            http_session_cls=SharedTlsSession,  # one TLS context per process, not per client
        )

    async def __aenter__(self) -> AwsClients:
        self._open = True
        if not self.lazy:
            for name in SERVICES:
                await self.client(name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        await self._stack.aclose()
        self._clients.clear()

    async def client(self, service: str) -> Any:
        """The client of one of SERVICES, created on first use."""
        if service not in self._clients:
            if not self._open:
                raise RuntimeError("AwsClients used outside 'async with'")
            async with self._creating:
                if service not in self._clients:
                    credentials = await self._credentials_for(service)
                    await self._create(service, self._config, credentials)
        return self._clients[service]

    async def _credentials_for(self, service: str) -> dict[str, str]:
        """The dummy credentials for a local endpoint when none are configured, else none."""
        if not is_local_endpoint(endpoint_for(service)):
            return {}
        if self._dummy_credentials is None:
            configured = await credentials_configured(self._session)
            self._dummy_credentials = (
                {}
                if configured
                else {
                    "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                }
            )
        return self._dummy_credentials

    async def _create(self, service: str, config: AioConfig, credentials: Mapping[str, str]) -> Any:
        client = await self._stack.enter_async_context(
            self._session.create_client(service, config=config, **credentials)
        )
        self._instrument(client)
        self._clients[service] = client
        return client

    def _instrument(self, client: Any) -> None:
        """Count every call, and trace it (a CLIENT span when inside a traced job)."""
        client.meta.events.register("before-call", self._count)
        for event, handler in tracing.aws_call_hooks().items():
            client.meta.events.register_first(event, handler)
        cache_user_agent(client)

    def _count(self, model: Any, **_: Any) -> None:
        self.call_counts[(model.service_model.service_name, model.name)] += 1

    def _get(self, name: str) -> Any:
        if name in self._clients:
            return self._clients[name]
        if not self._open:
            raise RuntimeError("AwsClients used outside 'async with'")
        return self._lazy_clients[name]

    async def extra_client(self, service: str, **config: Any) -> Any:
        """A client for a service outside SERVICES (``bedrock-runtime``), made on first use with
        the same session, defaults (``config`` overrides them) and call counting, and closed
        with the others."""
        if service not in self._clients:
            if not self._open:
                raise RuntimeError("AwsClients used outside 'async with'")
            async with self._creating:
                if service not in self._clients:
                    extra = AioConfig(**{"parameter_validation": True, **config})
                    await self._create(service, self._config.merge(extra), {})
        return self._clients[service]

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
