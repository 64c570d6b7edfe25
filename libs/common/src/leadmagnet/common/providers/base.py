"""The one provider interface every service that generates text or images uses.

Implementations: ``openai`` (official async SDK), ``anthropic`` (official async SDK),
``bedrock`` (Amazon Bedrock through aiobotocore) and ``offline`` (deterministic, no network).
Every call returns its raw token usage and its cost in integer micro-dollars, priced from the
price data file (never from code).

Errors: implementations raise ``leadmagnet.common.errors.TransientError`` for 408/409/429/5xx,
timeouts and connection errors (with ``retry_after`` from ``Retry-After`` when given) and
``PermanentError`` for other 4xx and for answers that fail validation after the allowed retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound=BaseModel)


class Usage(BaseModel):
    """Raw usage counts, normalised across providers.

    ``input_tokens`` is *uncached* input; ``reasoning_tokens`` is already inside
    ``output_tokens`` (never added twice).
    """

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    image_quality: Literal["standard", "hd"] | None = None
    image_size: str | None = None


class CallCost(BaseModel):
    """One provider call: who, what, how much. Stored on jobs/runs; failed calls too."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str
    operation: Literal["text", "vision", "image"]
    stage: str | None = None
    request_id: str | None = None
    usage: Usage
    cost_micros: int = Field(ge=0, description="Cost in millionths of a US dollar.")
    price_version: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ImageInput(BaseModel):
    data: bytes
    media_type: Literal["image/jpeg", "image/png", "image/webp", "image/gif"]


class TextRequest(BaseModel):
    """A text (or vision, when ``images`` is set) generation request."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    system: str
    prompt: str
    images: list[ImageInput] = Field(default_factory=list)
    max_output_tokens: int | None = None
    model: str | None = None  # override the configured default
    stage: str | None = None  # for cost records
    # Optional structured output: the answer must validate against this model.
    output_model: type[BaseModel] | None = None


class TextResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    parsed: Any | None = None  # an instance of request.output_model when one was given
    cost: CallCost


class ImageRequest(BaseModel):
    prompt: str
    size: str = "1024x1024"  # "WxH"
    quality: Literal["standard", "hd"] = "standard"
    model: str | None = None
    stage: str | None = None
    # Offline provider: palette for the placeholder drawing (hex colours).
    palette: list[str] = Field(default_factory=list)
    # A photo the picture should be a variation of (a product kit's upload). Providers that can
    # (bedrock: Nova Canvas IMAGE_VARIATION) use it; the others draw from the prompt alone.
    source_images: list[ImageInput] = Field(default_factory=list)
    label: str | None = None


class ImageResult(BaseModel):
    data: bytes
    media_type: Literal["image/png", "image/jpeg", "image/webp"]
    width: int
    height: int
    cost: CallCost


@runtime_checkable
class Provider(Protocol):
    name: str

    async def generate_text(self, request: TextRequest) -> TextResult: ...

    async def generate_image(self, request: ImageRequest) -> ImageResult: ...

    async def aclose(self) -> None: ...
