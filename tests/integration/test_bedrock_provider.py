"""Amazon Bedrock for real: the aiobotocore ``bedrock-runtime`` client (SigV4, rest-json) made by
AwsClients, against the local Bedrock wire-format server — one test per call shape the flows
make (report, funnel agent, funnel images, kit analysis/copy/images, chat lead summary), the
error mapping and the costs against the price table."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.errors import InvalidOutputError, PermanentError, TransientError
from leadmagnet.common.models import Workflow
from leadmagnet.common.products import ProductAnalysis, ProductCopy, ProductPreferences
from leadmagnet.common.providers import BedrockProvider, Providers, create_providers
from leadmagnet.common.providers.base import ImageInput, ImageRequest, TextRequest, Usage
from leadmagnet.common.providers.bedrock import price_key, tool_schema
from leadmagnet.common.providers.pricing import load_prices
from leadmagnet.common.settings import Settings
from leadmagnet.flows.leads.models import LeadSummary
from leadmagnet.reporter.flows.funnel_agent import FunnelAnswer
from leadmagnet.reporter.flows.lead_magnet_prompt import build_report_request
from leadmagnet.reporter.flows.product_copy import copy_request
from leadmagnet.testing.fake_bedrock import FakeBedrockServer
from leadmagnet.testing.kits import product_photo, sample_analysis, short_copy

pytestmark = pytest.mark.integration

TEXT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CREDENTIAL = re.compile(
    r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z-]+)/aws4_request"
)

ANALYSIS = sample_analysis()
COPY = short_copy()


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer() as server:
        yield server


@pytest.fixture(autouse=True)
def endpoint(bedrock: FakeBedrockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    bedrock.reset()
    # The standard per-service variable; dummy credentials (the server checks no signature).
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBEDROCKTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bedrock-test-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def bedrock_settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "llm_provider": "bedrock",
        "vision_provider": "bedrock",
        "image_provider": "bedrock",
        "bedrock_region": "us-west-2",
        "llm_max_retries": 0,
        "llm_timeout_seconds": 5,
    }
    return Settings(**{**base, **kw})


@pytest.fixture
async def aws() -> AsyncIterator[AwsClients]:
    async with AwsClients(bedrock_settings()) as clients:
        yield clients


@pytest.fixture
async def provider(aws: AwsClients) -> AsyncIterator[BedrockProvider]:
    p = BedrockProvider(bedrock_settings(), aws)
    yield p
    await p.aclose()


def reconcile(cost: Any) -> None:
    """The recorded cost is the price table's, for the foundation model the id names."""
    expected, version = load_prices().cost_of(cost.usage, price_key(cost.model), cost.operation)
    assert (cost.cost_micros, cost.price_version) == (expected, version)
    assert version == load_prices().version  # a priced model, not "unknown-model:..."


def last(bedrock: FakeBedrockServer) -> dict[str, Any]:
    return bedrock.requests()[-1]


async def test_report_text_signed_for_bedrock_with_usage_and_cost(
    bedrock: FakeBedrockServer, provider: BedrockProvider, aws: AwsClients
) -> None:
    bedrock.add_rule(
        reply={
            "text": "# Growth plan\n\nFocus.",
            "usage": {
                "inputTokens": 1200,
                "outputTokens": 800,
                "cacheReadInputTokens": 1000,
                "cacheWriteInputTokens": 500,
            },
        }
    )
    workflow = Workflow(workflow_id="wf", tenant_id="t", name="Report")
    request = build_report_request(workflow, {"name": "Ada", "goal": "more leads"})
    result = await provider.generate_text(request)
    assert result.text.startswith("# Growth plan")
    u = result.cost.usage
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens) == (
        1200,
        800,
        1000,
        500,
    )
    # Claude Sonnet 4.5 on Bedrock: 1200*$3 + 800*$15 + 1000*$0.30 + 500*$3.75 per 1M
    assert result.cost.cost_micros == 3600 + 12000 + 300 + 1875
    assert (result.cost.provider, result.cost.model, result.cost.operation) == (
        "bedrock",
        TEXT_MODEL,
        "text",
    )
    assert result.cost.stage == "report"
    assert result.cost.request_id
    reconcile(result.cost)

    sent = last(bedrock)
    assert sent["operation"] == "converse"
    assert sent["model"] == TEXT_MODEL
    assert sent["raw_path"] == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    auth = CREDENTIAL.search(sent["authorization"])
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert auth is not None
    assert (auth["service"], auth["region"]) == ("bedrock", "us-west-2")
    body = sent["payload"]
    assert body["system"] == [{"text": request.system}]
    assert body["messages"] == [{"role": "user", "content": [{"text": request.prompt}]}]
    assert body["inferenceConfig"] == {"maxTokens": 4096}
    assert "toolConfig" not in body
    # made by the process's AwsClients: counted like every AWS call
    assert aws.call_counts[("bedrock-runtime", "Converse")] == 1


async def test_funnel_agent_structured_answer_through_a_forced_tool(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    funnel = {"hero": {"title": "New title", "image_url": "https://x/img.png"}}
    bedrock.add_rule(match="FunnelAnswer", reply={"json": {"funnel": funnel}})
    request = TextRequest(
        system="rewrite", prompt="brief", stage="agent", output_model=FunnelAnswer
    )
    result = await provider.generate_text(request)
    assert isinstance(result.parsed, FunnelAnswer)
    assert result.parsed.funnel == funnel
    assert json.loads(result.text) == {"funnel": funnel}
    tool_config = last(bedrock)["payload"]["toolConfig"]
    spec = tool_config["tools"][0]["toolSpec"]
    assert spec["name"] == "FunnelAnswer"
    assert spec["inputSchema"]["json"] == FunnelAnswer.model_json_schema()
    assert spec["inputSchema"]["json"] == tool_schema(FunnelAnswer)
    assert tool_config["toolChoice"] == {"tool": {"name": "FunnelAnswer"}}
    reconcile(result.cost)


async def test_funnel_images_text_to_image_on_nova_canvas(
    bedrock: FakeBedrockServer, provider: BedrockProvider, aws: AwsClients
) -> None:
    image = await provider.generate_image(
        ImageRequest(prompt="a hero image " * 200, size="1536x1024", quality="hd", stage="images")
    )
    assert (image.width, image.height, image.media_type) == (1536, 1024, "image/png")
    sent = last(bedrock)
    assert sent["operation"] == "invoke"
    assert sent["raw_path"] == "/model/amazon.nova-canvas-v1%3A0/invoke"
    body = sent["payload"]
    assert body["taskType"] == "TEXT_IMAGE"
    assert len(body["textToImageParams"]["text"]) <= 1024  # Nova Canvas' prompt limit
    assert body["imageGenerationConfig"] == {
        "numberOfImages": 1,
        "width": 1536,
        "height": 1024,
        "quality": "premium",
    }
    # above 1024x1024 Nova Canvas is priced in its larger tier: premium $0.08
    assert image.cost.cost_micros == 80_000
    assert image.cost.usage.images == 1
    reconcile(image.cost)
    standard = await provider.generate_image(ImageRequest(prompt="p", size="1024x1024"))
    assert standard.cost.cost_micros == 40_000
    assert last(bedrock)["payload"]["imageGenerationConfig"]["quality"] == "standard"
    assert aws.call_counts[("bedrock-runtime", "InvokeModel")] == 2


async def test_kit_analysis_vision_with_an_image_block(
    bedrock: FakeBedrockServer, aws: AwsClients
) -> None:
    settings = bedrock_settings(bedrock_vision_model="amazon.nova-pro-v1:0")
    provider = BedrockProvider(settings, aws)
    bedrock.add_rule(match="ProductAnalysis", reply={"json": ANALYSIS})
    data = product_photo(64, 64, "JPEG", bands=())  # small: the server records it whole
    result = await provider.generate_text(
        TextRequest(
            system="analyse",
            prompt="Analyse this product photo (p.jpg).",
            images=[ImageInput(data=data, media_type="image/jpeg")],
            output_model=ProductAnalysis,
            stage="analysis",
        )
    )
    assert isinstance(result.parsed, ProductAnalysis)
    assert result.parsed.visual.dominantColors[0].hex == "#FF6B35"
    assert result.cost.operation == "vision"
    assert result.cost.model == "amazon.nova-pro-v1:0"
    reconcile(result.cost)
    sent = last(bedrock)
    assert sent["model"] == "amazon.nova-pro-v1:0"
    block = sent["payload"]["messages"][0]["content"][0]["image"]
    assert block["format"] == "jpeg"
    assert base64.b64decode(block["source"]["bytes"]) == data  # a blob: base64 on the wire
    tool_config = sent["payload"]["toolConfig"]
    assert tool_config["toolChoice"] == {"tool": {"name": "ProductAnalysis"}}
    schema = tool_config["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema == tool_schema(ProductAnalysis)
    assert "$ref" not in json.dumps(schema)  # nested models inlined for every model family


async def test_kit_copy_structured(bedrock: FakeBedrockServer, provider: BedrockProvider) -> None:
    bedrock.add_rule(match="ProductCopy", reply={"json": COPY})
    result = await provider.generate_text(copy_request(ANALYSIS, ProductPreferences()))
    assert isinstance(result.parsed, ProductCopy)
    assert result.parsed.adCopy.googleAdsHeadline == "New"
    assert result.cost.stage == "copy"
    reconcile(result.cost)


async def test_kit_images_are_variations_of_the_uploaded_photo(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    source = ImageInput(data=product_photo(64, 64, "PNG", bands=()), media_type="image/png")
    webp = io.BytesIO()
    Image.new("RGB", (400, 400), (1, 2, 3)).save(webp, format="WEBP")
    image = await provider.generate_image(
        ImageRequest(
            prompt="Professional product packaging design",
            size="1024x1536",
            stage="images",
            source_images=[source, ImageInput(data=webp.getvalue(), media_type="image/webp")],
        )
    )
    assert (image.width, image.height) == (1024, 1536)
    body = last(bedrock)["payload"]
    assert body["taskType"] == "IMAGE_VARIATION"
    params = body["imageVariationParams"]
    assert params["text"] == "Professional product packaging design"
    assert len(params["images"]) == 2
    assert params["images"][0] == base64.b64encode(source.data).decode()
    webp_as_png = Image.open(io.BytesIO(base64.b64decode(params["images"][1])))
    assert webp_as_png.format == "PNG"  # Nova Canvas takes PNG or JPEG sources
    assert image.cost.cost_micros == 60_000  # standard, larger tier
    reconcile(image.cost)


async def test_chat_lead_summary_structured(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    answer = {
        "handoff_ready": True,
        "name": "Ada",
        "email": "ada@example.com",
        "summary": "Wants X",
    }
    bedrock.add_rule(match="LeadSummary", reply={"json": answer})
    result = await provider.generate_text(
        TextRequest(system="s", prompt="transcript", output_model=LeadSummary, stage="lead_summary")
    )
    assert isinstance(result.parsed, LeadSummary)
    assert result.parsed.email == "ada@example.com"
    reconcile(result.cost)


async def test_a_structured_answer_that_does_not_validate_is_invalid_output_with_its_cost(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    bedrock.add_rule(reply={"json": {"funnel": "not an object"}, "usage": {"outputTokens": 10}})
    with pytest.raises(InvalidOutputError) as info:
        await provider.generate_text(TextRequest(system="s", prompt="p", output_model=FunnelAnswer))
    assert info.value.cost.cost_micros > 0  # type: ignore[attr-defined]


async def test_throttling_is_transient_with_the_retry_hint_and_validation_is_permanent(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    bedrock.add_rule(
        times=1,
        reply={
            "status": 429,
            "error_type": "ThrottlingException",
            "message": "Too many requests, please wait before trying again.",
            "headers": {"retry-after": "7"},
        },
    )
    with pytest.raises(TransientError) as throttled:
        await provider.generate_text(TextRequest(system="s", prompt="p"))
    assert throttled.value.code == "provider_rate_limited"
    assert throttled.value.retry_after == 7
    assert "ThrottlingException" in throttled.value.message
    assert bedrock.stats()["total"] == 1  # LLM_MAX_RETRIES=0: botocore did not retry

    bedrock.add_rule(
        times=1,
        reply={
            "status": 400,
            "error_type": "ValidationException",
            "message": "The provided model identifier is invalid.",
        },
    )
    with pytest.raises(PermanentError) as rejected:
        await provider.generate_text(TextRequest(system="s", prompt="p", model="nope"))
    assert rejected.value.code == "provider_rejected"
    assert "model identifier is invalid" in rejected.value.message


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (503, "ServiceUnavailableException", TransientError),
        (500, "InternalServerException", TransientError),
        (429, "ModelNotReadyException", TransientError),
        (403, "AccessDeniedException", PermanentError),
        (404, "ResourceNotFoundException", PermanentError),
    ],
)
async def test_error_kinds(
    bedrock: FakeBedrockServer, provider: BedrockProvider, status: int, error_type: str, kind: type
) -> None:
    bedrock.add_rule(times=1, reply={"status": status, "error_type": error_type, "message": "x"})
    with pytest.raises(kind) as info:
        await provider.generate_image(ImageRequest(prompt="p"))
    assert error_type in info.value.message


async def test_retry_budget_follows_llm_max_retries(
    bedrock: FakeBedrockServer, aws: AwsClients
) -> None:
    provider = BedrockProvider(bedrock_settings(llm_max_retries=1), aws)
    bedrock.add_rule(times=1, reply={"status": 503, "error_type": "ServiceUnavailableException"})
    result = await provider.generate_text(TextRequest(system="s", prompt="p"))
    assert result.text
    assert bedrock.stats()["total"] == 2  # one retry by botocore, then the answer


async def test_selection_only_when_asked_for_and_one_client_per_process(
    bedrock: FakeBedrockServer, aws: AwsClients
) -> None:
    auto = create_providers(Settings(openai_api_key=None, anthropic_api_key=None), aws)
    assert (auto.text.name, auto.vision.name, auto.image.name) == ("offline",) * 3
    chosen: Providers = create_providers(bedrock_settings(), aws)
    assert chosen.text is chosen.vision is chosen.image
    assert chosen.text.name == "bedrock"
    mixed = create_providers(
        bedrock_settings(
            llm_provider="offline", vision_provider="bedrock", image_provider="offline"
        ),
        aws,
    )
    assert (mixed.text.name, mixed.vision.name, mixed.image.name) == (
        "offline",
        "bedrock",
        "offline",
    )
    await chosen.text.generate_text(TextRequest(system="s", prompt="p"))
    await chosen.text.generate_image(ImageRequest(prompt="p"))
    await chosen.aclose()
    await mixed.aclose()


async def test_a_provider_without_the_process_clients_opens_its_own(
    bedrock: FakeBedrockServer,
) -> None:
    provider = create_providers(bedrock_settings()).text
    try:
        result = await provider.generate_text(TextRequest(system="s", prompt="p"))
    finally:
        await provider.aclose()
    assert result.cost.provider == "bedrock"


async def test_inference_profile_arns_are_priced_as_their_model(
    bedrock: FakeBedrockServer, provider: BedrockProvider
) -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-lite-v1:0"
    bedrock.add_rule(reply={"text": "ok", "usage": {"inputTokens": 1_000_000, "outputTokens": 0}})
    result = await provider.generate_text(TextRequest(system="s", prompt="p", model=arn))
    assert result.cost.model == arn
    assert result.cost.cost_micros == 60_000  # Nova Lite: $0.06 per 1M input tokens
    sent = last(bedrock)
    assert sent["model"] == arn
    assert "inference-profile%2Fus.amazon.nova-lite-v1%3A0" in sent["raw_path"]
    assert load_prices().cost_of(Usage(input_tokens=1_000_000), price_key(arn), "text")[0] == 60_000
