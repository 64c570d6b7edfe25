"""OpenAI through the official async SDK: Responses API for text/vision, Images for pictures."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
from PIL import Image

from ..errors import PermanentError
from ..settings import Settings
from .base import CallCost, ImageRequest, ImageResult, TextRequest, TextResult, Usage
from .errors import map_sdk_error
from .pricing import load_prices
from .structured import json_schema_for, parse_answer

# Our two image tiers (seed 001 prices "standard" and "HD") in GPT image model terms.
QUALITY = {"standard": "medium", "hd": "high"}


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            base_url=settings.openai_base_url,
            max_retries=settings.llm_max_retries,
            timeout=settings.llm_timeout_seconds,
        )
        self.prices = load_prices(settings.prices_file)

    def _cost(
        self, usage: Usage, model: str, operation: Any, stage: str | None, request_id: str | None
    ) -> CallCost:
        return self.prices.call_cost(
            self.name, model, operation, usage, stage=stage, request_id=request_id
        )

    @staticmethod
    def _usage(raw: Any) -> Usage:
        if raw is None:
            return Usage()
        cached = getattr(getattr(raw, "input_tokens_details", None), "cached_tokens", 0) or 0
        reasoning = getattr(getattr(raw, "output_tokens_details", None), "reasoning_tokens", 0) or 0
        total_in = getattr(raw, "input_tokens", 0) or 0
        return Usage(
            input_tokens=max(0, total_in - cached),  # OpenAI counts cached tokens inside input
            cached_input_tokens=cached,
            output_tokens=getattr(raw, "output_tokens", 0) or 0,
            reasoning_tokens=reasoning,
        )

    async def generate_text(self, request: TextRequest) -> TextResult:
        model = request.model or self.settings.openai_model
        content: list[dict[str, Any]] = [{"type": "input_text", "text": request.prompt}]
        for image in request.images:
            data = base64.b64encode(image.data).decode()
            content.append(
                {"type": "input_image", "image_url": f"data:{image.media_type};base64,{data}"}
            )
        kwargs: dict[str, Any] = {
            "model": model,
            "instructions": request.system,
            "input": [{"role": "user", "content": content}],
            "max_output_tokens": request.max_output_tokens or self.settings.llm_max_output_tokens,
        }
        if request.output_model is not None:
            kwargs["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": request.output_model.__name__[:64],
                    "schema": json_schema_for(request.output_model),
                    "strict": False,
                }
            }
        try:
            response = await self.client.responses.create(**kwargs)
        except openai.OpenAIError as e:
            raise map_sdk_error(self.name, e) from None
        operation = "vision" if request.images else "text"
        cost = self._cost(
            self._usage(response.usage),
            model,
            operation,
            request.stage,
            getattr(response, "_request_id", None) or response.id,
        )
        text = response.output_text
        parsed = parse_answer(text, request.output_model, cost)
        return TextResult(text=text, parsed=parsed, cost=cost)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        model = request.model or self.settings.openai_image_model
        quality: Any = QUALITY[request.quality]
        try:
            response = await self.client.images.generate(
                model=model, prompt=request.prompt, size=request.size, quality=quality, n=1
            )
        except openai.OpenAIError as e:
            raise map_sdk_error(self.name, e) from None
        if not response.data or not response.data[0].b64_json:
            raise PermanentError("the image model returned no image data", code="empty_output")
        data = base64.b64decode(response.data[0].b64_json)
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            fmt = (im.format or "PNG").lower()
        usage = Usage(images=1, image_quality=request.quality, image_size=request.size)
        media_type: Any = "image/jpeg" if fmt == "jpeg" else f"image/{fmt}"
        return ImageResult(
            data=data,
            media_type=media_type,
            width=width,
            height=height,
            cost=self._cost(
                usage, model, "image", request.stage, getattr(response, "_request_id", None)
            ),
        )

    async def aclose(self) -> None:
        await self.client.close()
