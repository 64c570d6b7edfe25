"""Shared fixtures: an embedded AWS endpoint (moto server over HTTP) unless the caller gave one.

Set ``AWS_ENDPOINT_URL`` (and optionally ``AWS_ENDPOINT_URL_DYNAMODB``...) before running pytest to
run the same suite against LocalStack or another endpoint; otherwise a moto server is started on a
free 127.0.0.1 port for the session.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.testing import stackenv
from leadmagnet.testing.moto_server import DUMMY_CREDENTIALS, moto_server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    external = os.environ.get("AWS_ENDPOINT_URL")
    for key, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    if external:
        yield external
        return
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            yield endpoint
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(scope="session")
def resource_prefix() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def settings(aws_endpoint: str, resource_prefix: str) -> Settings:
    return Settings(
        resource_prefix=resource_prefix,
        LEADMAGNET_ENV="test",
        llm_provider="offline",
        allow_private_targets=True,
        sqs_wait_time_seconds=1,
        consumer_backoff_base_seconds=0.5,
        consumer_backoff_cap_seconds=2,
    )


@pytest.fixture(scope="session")
def bootstrapped(settings: Settings) -> Settings:
    return stackenv.bootstrapped(settings)


@pytest.fixture
async def aws(bootstrapped: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bootstrapped) as clients:
        yield clients


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """Per-test directory for screenshots and other artefacts worth keeping."""
    path = REPO_ROOT / "test-output" / request.node.name.replace("/", "_")[:80]
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def platform(bootstrapped: Settings) -> AsyncIterator[Platform]:
    async with Platform.open(bootstrapped, "tests") as p:
        yield p


@pytest.fixture
async def gw(bootstrapped: Settings, platform: Platform) -> AsyncIterator[httpx2.AsyncClient]:
    """The gateway app in process (no workers, no port), with the test's Platform."""
    from leadmagnet.gateway.app import create_app

    app = create_app(bootstrapped, platform)
    app.state.platform = platform  # what the lifespan does, without a second Platform
    # raise_app_exceptions=False: a crash must show as the 500 a client would get.
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
        yield c
