"""The official OpenAI and Anthropic SDKs, for real, against the local wire-format server."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel

from leadmagnet.common.errors import InvalidOutputError, PermanentError, TransientError
from leadmagnet.common.providers import (
    AnthropicProvider,
    OfflineProvider,
    OpenAIProvider,
    create_providers,
)
from leadmagnet.common.providers.base import ImageInput, ImageRequest, TextRequest
from leadmagnet.common.settings import Settings
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.integration


class Summary(BaseModel):
    title: str
    score: int


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as s:
        yield s


@pytest.fixture(autouse=True)
def clean(server: FakeLLMServer) -> None:
    server.reset()


def settings_for(server: FakeLLMServer, **kw: Any) -> Settings:
    return Settings(
        openai_api_key="sk-test",
        openai_base_url=server.base_url,
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=server.url,
        llm_timeout_seconds=2,
        llm_max_retries=0,
        **kw,
    )


@pytest.fixture
async def openai_p(server: FakeLLMServer) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(settings_for(server))
    yield p
    await p.aclose()


@pytest.fixture
async def anthropic_p(server: FakeLLMServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(settings_for(server))
    yield p
    await p.aclose()


def png(w: int = 8, h: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (255, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


async def test_openai_text_with_normalised_usage_and_cost(
    server: FakeLLMServer, openai_p: OpenAIProvider
) -> None:
    server.add_rule(
        reply={
            "text": "# Hello",
            "usage": {
                "input_tokens": 1000,
                "cached_tokens": 400,
                "output_tokens": 500,
                "reasoning_tokens": 200,
            },
        }
    )
    result = await openai_p.generate_text(
        TextRequest(system="sys", prompt="hi", model="gpt-5", stage="report")
    )
    assert result.text == "# Hello"
    u = result.cost.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (
        600,
        400,
        500,
        200,
    )
    # gpt-5 at the seed's prices: 600*30 + 400*3 + 500*120 per 1M = 0.0792 USD
    assert result.cost.cost_micros == 79_200
    assert result.cost.price_version == "2026-11-01"
    assert result.cost.request_id
    sent = json.loads(server.stats()["requests"][-1]["body"])
    assert sent["instructions"] == "sys"
    assert sent["model"] == "gpt-5"


async def test_openai_structured_output_and_vision(
    server: FakeLLMServer, openai_p: OpenAIProvider
) -> None:
    server.add_rule(reply={"json": {"title": "T", "score": 3}})
    result = await openai_p.generate_text(
        TextRequest(
            system="s",
            prompt="rate",
            output_model=Summary,
            images=[ImageInput(data=png(), media_type="image/png")],
        )
    )
    assert result.parsed == Summary(title="T", score=3)
    assert result.cost.operation == "vision"
    sent = json.loads(server.stats()["requests"][-1]["body"])
    assert sent["text"]["format"]["type"] == "json_schema"
    parts = sent["input"][0]["content"]
    assert any(
        p["type"] == "input_image" and p["image_url"].startswith("data:image/png;base64,")
        for p in parts
    )


async def test_invalid_structured_answer_is_transient_and_keeps_its_cost(
    server: FakeLLMServer, openai_p: OpenAIProvider
) -> None:
    server.add_rule(reply={"text": '{"title": "T", "sco'}, times=1)
    with pytest.raises(InvalidOutputError) as info:
        await openai_p.generate_text(TextRequest(system="s", prompt="p", output_model=Summary))
    assert isinstance(info.value, TransientError)
    assert info.value.cost.usage.output_tokens > 0  # type: ignore[attr-defined]
    server.add_rule(reply={"json": {"title": "T"}})
    with pytest.raises(InvalidOutputError, match="score"):
        await openai_p.generate_text(TextRequest(system="s", prompt="p", output_model=Summary))


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        (
            {
                "status": 429,
                "headers": {"retry-after": "7"},
                "body_json": {"error": {"message": "slow down", "type": "rate_limit"}},
            },
            TransientError,
            7.0,
        ),
        ({"status": 500, "body_json": {"error": {"message": "boom"}}}, TransientError, None),
        ({"status": 503, "body_json": {"error": {"message": "overloaded"}}}, TransientError, None),
        ({"status": 400, "body_json": {"error": {"message": "bad model"}}}, PermanentError, None),
        ({"status": 401, "body_json": {"error": {"message": "bad key"}}}, PermanentError, None),
        ({"delay_seconds": 5}, TransientError, None),  # hangs past the 2 s timeout
    ],
)
async def test_openai_errors_map_to_our_kinds(
    server: FakeLLMServer,
    openai_p: OpenAIProvider,
    reply: dict[str, Any],
    kind: type,
    retry_after: float | None,
) -> None:
    server.add_rule(reply=reply)
    with pytest.raises(kind) as info:
        await openai_p.generate_text(TextRequest(system="s", prompt="p"))
    if kind is PermanentError:
        assert not isinstance(info.value, TransientError)
        assert "bad" in info.value.message
    assert getattr(info.value, "retry_after", None) == retry_after
    assert "sk-test" not in str(info.value)


async def test_openai_image_generation(server: FakeLLMServer, openai_p: OpenAIProvider) -> None:
    result = await openai_p.generate_image(
        ImageRequest(prompt="a can", size="1536x1024", quality="hd", model="gpt-image-1")
    )
    with Image.open(io.BytesIO(result.data)) as im:
        assert im.size == (1536, 1024)
    assert (result.width, result.height, result.media_type) == (1536, 1024, "image/png")
    assert result.cost.cost_micros == 80_000  # the seed's HD price
    assert json.loads(server.stats()["requests"][-1]["body"])["quality"] == "high"


async def test_anthropic_text_vision_structured(
    server: FakeLLMServer, anthropic_p: AnthropicProvider
) -> None:
    server.add_rule(
        reply={
            "json": {"title": "Can", "score": 9},
            "usage": {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 1000},
        }
    )
    result = await anthropic_p.generate_text(
        TextRequest(
            system="s",
            prompt="analyse",
            output_model=Summary,
            model="claude-sonnet-4-6",
            images=[ImageInput(data=png(), media_type="image/png")],
        )
    )
    assert result.parsed == Summary(title="Can", score=9)
    u = result.cost.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens) == (100, 1000, 50)
    # 100*3 + 1000*0.30 + 50*15 per 1M USD = 0.00135
    assert result.cost.cost_micros == 1_350
    sent = json.loads(server.stats()["requests"][-1]["body"])
    blocks = sent["messages"][0]["content"]
    assert blocks[0]["type"] == "image"
    assert blocks[0]["source"]["media_type"] == "image/png"
    assert sent["system"] == "s"
    with pytest.raises(PermanentError):
        await anthropic_p.generate_image(ImageRequest(prompt="x"))


async def test_anthropic_rate_limit_is_transient(
    server: FakeLLMServer, anthropic_p: AnthropicProvider
) -> None:
    server.add_rule(
        reply={
            "status": 429,
            "headers": {"retry-after": "3"},
            "body_json": {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "slow"},
            },
        }
    )
    with pytest.raises(TransientError) as info:
        await anthropic_p.generate_text(TextRequest(system="s", prompt="p"))
    assert info.value.retry_after == 3.0


def test_auto_selection_prefers_configured_keys(server: FakeLLMServer) -> None:
    none = create_providers(Settings(openai_api_key=None, anthropic_api_key=None))
    assert (none.text.name, none.vision.name, none.image.name) == ("offline",) * 3
    both = create_providers(settings_for(server))
    assert (both.text.name, both.vision.name, both.image.name) == ("openai", "anthropic", "openai")
    only_anthropic = create_providers(Settings(anthropic_api_key="sk-ant-x", openai_api_key=None))
    assert (only_anthropic.text.name, only_anthropic.vision.name, only_anthropic.image.name) == (
        "anthropic",
        "anthropic",
        "offline",
    )
    forced = create_providers(settings_for(server, llm_provider="offline"))
    assert isinstance(forced.text, OfflineProvider)
