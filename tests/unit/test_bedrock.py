"""Bedrock pieces that need no server: price keys, request shapes, Nova Canvas limits and the
botocore error mapping."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from pydantic import BaseModel

from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.providers.base import ImageInput, ImageRequest, TextRequest
from leadmagnet.common.providers.bedrock import BedrockProvider, price_key, tool_schema
from leadmagnet.common.providers.errors import map_botocore_error
from leadmagnet.common.settings import Settings


class Answer(BaseModel):
    title: str


def provider(**kw: object) -> BedrockProvider:
    return BedrockProvider(Settings(**kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model_id", "key"),
    [
        ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        ("eu.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        ("apac.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0",
        ),
    ],
)
def test_price_keys(model_id: str, key: str) -> None:
    assert price_key(model_id) == key


def test_settings_defaults_and_region() -> None:
    s = Settings(AWS_REGION="eu-west-1")
    assert s.bedrock_text_model == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert s.bedrock_image_model == "amazon.nova-canvas-v1:0"
    assert BedrockProvider(s).region == "eu-west-1"
    assert BedrockProvider(Settings(bedrock_region="us-west-2")).region == "us-west-2"


def test_converse_request_shape_for_a_structured_vision_call() -> None:
    request = TextRequest(
        system="sys",
        prompt="look",
        images=[ImageInput(data=b"\x89PNG", media_type="image/png")],
        output_model=Answer,
        max_output_tokens=300,
    )
    body = provider().converse_request(request, "amazon.nova-pro-v1:0")
    assert body["modelId"] == "amazon.nova-pro-v1:0"
    assert body["system"] == [{"text": "sys"}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
                {"text": "look"},
            ],
        }
    ]
    assert body["inferenceConfig"] == {"maxTokens": 300}
    spec = body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "Answer"
    assert spec["inputSchema"] == {"json": Answer.model_json_schema()}  # no $defs to inline
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "Answer"}}


def test_an_empty_system_prompt_is_left_out() -> None:
    body = provider().converse_request(TextRequest(system=" ", prompt="p"), "m")
    assert "system" not in body


def test_nova_canvas_bodies() -> None:
    p = provider()
    text = p.invoke_body(ImageRequest(prompt="word " * 400, size="1024x1536", quality="hd"))
    assert text["taskType"] == "TEXT_IMAGE"
    assert len(text["textToImageParams"]["text"]) <= 1024
    assert text["textToImageParams"]["text"].endswith("word")  # cut at a word boundary
    assert text["imageGenerationConfig"] == {
        "numberOfImages": 1,
        "width": 1024,
        "height": 1536,
        "quality": "premium",
    }
    variation = p.invoke_body(
        ImageRequest(
            prompt="pkg", source_images=[ImageInput(data=b"\xff\xd8jpeg", media_type="image/jpeg")]
        )
    )
    assert variation["taskType"] == "IMAGE_VARIATION"
    assert variation["imageVariationParams"] == {"text": "pkg", "images": ["/9hqcGVn"]}
    assert variation["imageGenerationConfig"]["quality"] == "standard"


@pytest.mark.parametrize("size", ["100x100", "1000x1000", "4096x4096", "2048x320", "big"])
def test_sizes_nova_canvas_cannot_draw_are_refused_before_the_call(size: str) -> None:
    with pytest.raises(PermanentError) as info:
        provider().invoke_body(ImageRequest(prompt="p", size=size))
    assert info.value.code == "bad_size"


def client_error(status: int, code: str, headers: dict[str, str] | None = None) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} says no"},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "RequestId": "req-1",
                "HTTPHeaders": headers or {},
            },
        },
        "Converse",
    )


@pytest.mark.parametrize(
    ("status", "code", "kind", "our_code"),
    [
        (429, "ThrottlingException", TransientError, "provider_rate_limited"),
        (503, "ServiceUnavailableException", TransientError, "provider_unavailable"),
        (500, "InternalServerException", TransientError, "provider_unavailable"),
        (429, "ModelNotReadyException", TransientError, "provider_unavailable"),
        (502, "SomethingNew", TransientError, "provider_unavailable"),
        (400, "ValidationException", PermanentError, "provider_rejected"),
        (403, "AccessDeniedException", PermanentError, "provider_rejected"),
        (404, "ResourceNotFoundException", PermanentError, "provider_rejected"),
        (400, "SomethingElse", PermanentError, "provider_rejected"),
    ],
)
def test_error_mapping(status: int, code: str, kind: type, our_code: str) -> None:
    error = map_botocore_error("bedrock", client_error(status, code))
    assert type(error) is kind
    assert error.code == our_code
    assert code in error.message
    assert "req-1" in error.message


def test_retry_hints_are_honoured() -> None:
    error = map_botocore_error(
        "bedrock", client_error(429, "ThrottlingException", {"retry-after": "12"})
    )
    assert isinstance(error, TransientError)
    assert error.retry_after == 12


def test_transport_and_configuration_errors() -> None:
    unreachable = map_botocore_error("bedrock", EndpointConnectionError(endpoint_url="http://x"))
    assert isinstance(unreachable, TransientError)
    assert unreachable.code == "provider_unreachable"
    no_credentials = map_botocore_error("bedrock", NoCredentialsError())
    assert isinstance(no_credentials, PermanentError)
    assert no_credentials.code == "provider_config"


def test_importing_bedrock_imports_no_other_provider_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, leadmagnet.common.providers as p, leadmagnet.common.providers.bedrock;"
        "p.create_providers(p.Settings(llm_provider='offline', vision_provider='offline',"
        " image_provider='offline'));"
        "print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


class Inner(BaseModel):
    hex: str


class Outer(BaseModel):
    colours: list[Inner]
    main: Inner | None = None


class Tree(BaseModel):
    children: list[Tree] = []


def test_tool_schemas_have_their_references_inlined() -> None:
    schema = tool_schema(Outer)
    assert "$defs" not in schema
    assert "$ref" not in str(schema)
    assert schema["properties"]["colours"]["items"]["properties"]["hex"] == {
        "title": "Hex",
        "type": "string",
    }
    assert tool_schema(Tree) == Tree.model_json_schema()  # recursive: references kept
