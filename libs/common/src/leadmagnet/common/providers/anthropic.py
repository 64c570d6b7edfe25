"""Anthropic through the official async SDK (Messages API; image blocks for vision)."""

from __future__ import annotations

import base64
from typing import Any

import anthropic

from ..errors import PermanentError
from ..settings import Settings
from .base import ImageRequest, ImageResult, TextRequest, TextResult, Usage
from .errors import map_sdk_error
from .pricing import load_prices
from .structured import json_schema_for, parse_answer


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        key = settings.anthropic_api_key
        self.client = anthropic.AsyncAnthropic(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.anthropic_base_url,
            max_retries=settings.llm_max_retries,
            timeout=settings.llm_timeout_seconds,
        )
        self.prices = load_prices(settings.prices_file)

    @staticmethod
    def _usage(raw: Any) -> Usage:
        if raw is None:
            return Usage()
        # Anthropic's input_tokens already excludes cache reads and writes.
        return Usage(
            input_tokens=getattr(raw, "input_tokens", 0) or 0,
            cached_input_tokens=getattr(raw, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(raw, "cache_creation_input_tokens", 0) or 0,
            output_tokens=getattr(raw, "output_tokens", 0) or 0,
        )

    async def generate_text(self, request: TextRequest) -> TextResult:
        model = request.model or self.settings.anthropic_model
        content: list[dict[str, Any]] = [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": image.media_type,
                    "data": base64.b64encode(image.data).decode(),
                },
            }
            for image in request.images
        ]
        content.append({"type": "text", "text": request.prompt})
        kwargs: dict[str, Any] = {
            "model": model,
            "system": request.system,
            "max_tokens": request.max_output_tokens or self.settings.llm_max_output_tokens,
            "messages": [{"role": "user", "content": content}],
        }
        if request.output_model is not None:
            kwargs["output_config"] = {
                "format": {"type": "json_schema", "schema": json_schema_for(request.output_model)}
            }
        try:
            message = await self.client.messages.create(**kwargs)
        except anthropic.AnthropicError as e:
            raise map_sdk_error(self.name, e) from None
        usage = self._usage(message.usage)
        cost = self.prices.call_cost(
            self.name,
            model,
            "vision" if request.images else "text",
            usage,
            stage=request.stage,
            request_id=getattr(message, "_request_id", None) or message.id,
        )
        text = "".join(b.text for b in message.content if getattr(b, "type", "") == "text")
        parsed = parse_answer(text, request.output_model, cost)
        return TextResult(text=text, parsed=parsed, cost=cost)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        raise PermanentError("anthropic has no image generation", code="unsupported")

    async def aclose(self) -> None:
        await self.client.close()
