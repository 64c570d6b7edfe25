"""The running system for integration tests: the five services as real processes against the
embedded AWS endpoint, with the OpenAI SDK path pointed at a local wire-format server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.stackenv import running_stack, stack_env
from leadmagnet.testing.webhook_receiver import WebhookReceiver

if TYPE_CHECKING:
    from playwright.async_api import Browser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[Any]:
    from leadmagnet.testing.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="session")
def stack(
    bootstrapped: Settings, fake_llm: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceStack]:
    env = stack_env(
        bootstrapped,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-local-wire-format-server",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MAX_RETRIES="0",  # retries are the queue's job; the tests observe them
        LLM_TIMEOUT_SECONDS="10",
    )
    with running_stack(env, tmp_path_factory.mktemp("stack-logs")) as services:
        STARTUP.update(services.ready_after)
        yield services


# Each service's start → ready time in this run (all five starting at once), printed at the end
# of the session so CI's log shows it; a figure, never an assertion (make bench measures).
STARTUP: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STARTUP:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(STARTUP.items()))
        terminalreporter.write_line(f"service start -> ready (all five at once): {figures}")


@pytest.fixture
async def api(stack: ServiceStack) -> AsyncIterator[GatewayClient]:
    async with httpx2.AsyncClient(timeout=30) as client:
        yield GatewayClient(stack.gateway_url, client)


@pytest.fixture
async def demo(platform: Platform) -> Demo:
    """A fresh tenant with a published template, a workflow and a unique form slug."""
    import secrets

    return await seed_demo(platform, slug=f"demo-{secrets.token_hex(4)}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium (Playwright is imported only by the browser tests)."""
    from leadmagnet.testing.browser import chromium

    async with chromium() as b:
        yield b
