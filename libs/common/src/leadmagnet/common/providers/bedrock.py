"""Amazon Bedrock through aiobotocore (``bedrock-runtime``): the Converse API for text and vision,
InvokeModel for Amazon Nova Canvas pictures.

No key: credentials come from the SDK chain (the ECS task role in AWS). The client is made by
the process's :class:`~leadmagnet.common.aws.AwsClients` (one session, one config, call
counting) in ``BEDROCK_REGION`` (default ``AWS_REGION``), with botocore's retry budget kept to
``LLM_MAX_RETRIES`` (the queue backs off). ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` points it
elsewhere (tests). Model ids may be foundation-model ids, inference-profile ids or ARNs; they
are priced as the foundation model they name.

Structured stages get one tool whose input schema is the pydantic model's JSON schema and a
``toolChoice`` forcing it; the tool's input is the answer.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image
from pydantic import BaseModel

from ..errors import PermanentError
from ..logging import get_logger
from ..settings import Settings
from .base import (
    CallCost,
    ImageInput,
    ImageRequest,
    ImageResult,
    TextRequest,
    TextResult,
    Usage,
)
from .errors import map_botocore_error
from .pricing import load_prices
from .structured import json_schema_for, parse_answer

if TYPE_CHECKING:
    from ..aws import AwsClients

log = get_logger()

SERVICE = "bedrock-runtime"
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}
# Inference-profile prefixes: "us.anthropic.claude-..." is priced as "anthropic.claude-...".
_GEO_PREFIX = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.")
_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_REFUSALS = {"guardrail_intervened", "content_filtered"}
# Nova Canvas: prompts of 1-1024 characters; sides 320-4096 px in steps of 16, at most
# 4,194,304 pixels, aspect ratio within 1:4..4:1.
CANVAS_MAX_PROMPT = 1024
CANVAS_MAX_PIXELS = 4_194_304
QUALITY = {"standard": "standard", "hd": "premium"}


def price_key(model_id: str) -> str:
    """The price table's key for a Bedrock model id, inference-profile id or ARN."""
    key = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    return _GEO_PREFIX.sub("", key)


def tool_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The answer's JSON schema with ``$ref``s inlined: every Bedrock model family reads it
    (some do not resolve ``$defs``). A recursive model keeps its references."""
    schema = json_schema_for(model)
    defs = schema.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen or name not in defs:
                raise RecursionError(name)
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return {**inline(defs[name], (*seen, name)), **inline(extra, seen)}
        return {k: inline(v, seen) for k, v in node.items() if k != "$defs"}

    try:
        return dict(inline(schema, ()))
    except RecursionError:
        return schema


def _canvas_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise PermanentError(f"image size {size!r} is not WxH", code="bad_size") from None
    if not (
        320 <= width <= 4096
        and 320 <= height <= 4096
        and width % 16 == 0
        and height % 16 == 0
        and width * height <= CANVAS_MAX_PIXELS
        and 1 / 4 <= width / height <= 4
    ):
        raise PermanentError(
            f"image size {size} is not one Nova Canvas draws (320-4096 px sides in steps of 16,"
            " at most 4.2 MP, aspect 1:4 to 4:1)",
            code="bad_size",
        )
    return width, height


def _clip(text: str, limit: int = CANVAS_MAX_PROMPT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut or text[:limit]


def _canvas_source(image: ImageInput) -> str:
    """Nova Canvas takes PNG or JPEG sources: anything else is re-encoded as PNG."""
    if image.media_type in ("image/png", "image/jpeg"):
        return base64.b64encode(image.data).decode()
    with Image.open(io.BytesIO(image.data)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class BedrockProvider:
    name = "bedrock"
    # Stages with a photo (product kits) pass it: Nova Canvas draws an IMAGE_VARIATION of it.
    uses_source_images = True

    def __init__(self, settings: Settings, aws: AwsClients | None = None) -> None:
        self.settings = settings
        self.region = settings.bedrock_region or settings.aws_region
        self.prices = load_prices(settings.prices_file)
        self._aws = aws
        self._own_aws: AwsClients | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _runtime(self) -> Any:
        """The bedrock-runtime client, made on first use by the process's AwsClients."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    aws = self._aws
                    if aws is None:  # used on its own (tests, scripts): a private AwsClients
                        from ..aws import AwsClients

                        own = AwsClients(self.settings, lazy=True)  # for bedrock-runtime only
                        aws = self._own_aws = await own.__aenter__()
                    self._client = await aws.extra_client(
                        SERVICE,
                        region_name=self.region,
                        signature_version="v4",  # not s3v4: model ids and ARNs are in the path
                        retries={
                            "mode": "standard",
                            "total_max_attempts": self.settings.llm_max_retries + 1,
                        },
                        connect_timeout=5,
                        read_timeout=self.settings.llm_timeout_seconds,
                    )
        return self._client

    def _cost(
        self,
        usage: Usage,
        model: str,
        operation: Literal["text", "vision", "image"],
        stage: str | None,
        request_id: str | None,
    ) -> CallCost:
        return self.prices.call_cost(
            self.name,
            model,
            operation,
            usage,
            stage=stage,
            request_id=request_id,
            price_model=price_key(model),
        )

    @staticmethod
    def _usage(raw: dict[str, Any] | None) -> Usage:
        raw = raw or {}
        # Converse's inputTokens excludes cache reads and writes (counted on their own).
        return Usage(
            input_tokens=int(raw.get("inputTokens") or 0),
            cached_input_tokens=int(raw.get("cacheReadInputTokens") or 0),
            cache_write_tokens=int(raw.get("cacheWriteInputTokens") or 0),
            output_tokens=int(raw.get("outputTokens") or 0),
        )

    def converse_request(self, request: TextRequest, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for image in request.images:
            content.append(
                {"image": {"format": _FORMATS[image.media_type], "source": {"bytes": image.data}}}
            )
        content.append({"text": request.prompt})
        kwargs: dict[str, Any] = {
            "modelId": model,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": {
                "maxTokens": request.max_output_tokens or self.settings.llm_max_output_tokens
            },
        }
        if request.system.strip():
            kwargs["system"] = [{"text": request.system}]
        if request.output_model is not None:
            tool = _TOOL_NAME.sub("_", request.output_model.__name__)[:64] or "answer"
            kwargs["toolConfig"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": tool,
                            "description": f"Record the answer as {request.output_model.__name__}.",
                            "inputSchema": {"json": tool_schema(request.output_model)},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": tool}},
            }
        return kwargs

    async def generate_text(self, request: TextRequest) -> TextResult:
        default = self.settings.bedrock_vision_model if request.images else None
        model = request.model or default or self.settings.bedrock_text_model
        operation: Literal["text", "vision"] = "vision" if request.images else "text"
        client = await self._runtime()
        try:
            response = await client.converse(**self.converse_request(request, model))
        except (BotoCoreError, ClientError) as e:  # error answers, timeouts, connections
            raise map_botocore_error(self.name, e) from None
        request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
        cost = self._cost(
            self._usage(response.get("usage")), model, operation, request.stage, request_id
        )
        stop = response.get("stopReason")
        blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(str(b["text"]) for b in blocks if "text" in b)
        tool_input = next((b["toolUse"].get("input") for b in blocks if "toolUse" in b), None)
        log.info(
            "bedrock.converse",
            model=model,
            stop_reason=stop,
            request_id=request_id,
            stage=cost.stage,
        )
        if stop in _REFUSALS:
            error = PermanentError(
                f"bedrock did not answer ({stop})"
                + (f" (request {request_id})" if request_id else ""),
                code="provider_refused",
            )
            error.cost = cost  # type: ignore[attr-defined]  # failed calls cost money too
            raise error
        if request.output_model is not None and tool_input is not None:
            text = json.dumps(tool_input, ensure_ascii=False)
        parsed = parse_answer(text, request.output_model, cost)
        return TextResult(text=text, parsed=parsed, cost=cost)

    def invoke_body(self, request: ImageRequest) -> dict[str, Any]:
        width, height = _canvas_size(request.size)
        config = {
            "numberOfImages": 1,
            "width": width,
            "height": height,
            "quality": QUALITY[request.quality],
        }
        prompt = _clip(request.prompt)
        if request.source_images:
            return {
                "taskType": "IMAGE_VARIATION",
                "imageVariationParams": {
                    "text": prompt,
                    "images": [_canvas_source(i) for i in request.source_images[:5]],
                },
                "imageGenerationConfig": config,
            }
        return {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": prompt},
            "imageGenerationConfig": config,
        }

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        model = request.model or self.settings.bedrock_image_model
        body = self.invoke_body(request)
        client = await self._runtime()
        try:
            response = await client.invoke_model(
                modelId=model,
                body=json.dumps(body).encode(),
                contentType="application/json",
                accept="application/json",
            )
            async with response["body"] as stream:
                raw = await stream.read()
        except (BotoCoreError, ClientError) as e:
            raise map_botocore_error(self.name, e) from None
        request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise PermanentError(
                "the image model's answer is not JSON", code="bad_output"
            ) from None
        images = (answer.get("images") or []) if isinstance(answer, dict) else []
        if not images:
            reason = answer.get("error") if isinstance(answer, dict) else None
            raise PermanentError(
                f"the image model returned no image ({reason or 'empty answer'})",
                code="empty_output",
            )
        data = base64.b64decode(images[0])
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            fmt = (im.format or "PNG").lower()
        media_type: Any = "image/jpeg" if fmt == "jpeg" else f"image/{fmt}"
        drawn = body["imageGenerationConfig"]
        usage = Usage(
            images=1,
            image_quality=request.quality,
            image_size=f"{drawn['width']}x{drawn['height']}",
        )
        log.info("bedrock.image", model=model, task=body["taskType"], request_id=request_id)
        return ImageResult(
            data=data,
            media_type=media_type,
            width=width,
            height=height,
            cost=self._cost(usage, model, "image", request.stage, request_id),
        )

    async def aclose(self) -> None:
        self._client = None
        if self._own_aws is not None:
            own, self._own_aws = self._own_aws, None
            await own.__aexit__(None, None, None)
