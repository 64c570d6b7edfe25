"""Provider selection: one text, one vision and one image provider per process.

``auto`` picks a provider whose API key is set (text: OpenAI, then Anthropic; vision: Anthropic,
then OpenAI; images: OpenAI), else the offline provider, and logs the choice (never the key).
Amazon Bedrock has no key (IAM credentials): it is used only when asked for by name
(``LLM_PROVIDER``/``VISION_PROVIDER``/``IMAGE_PROVIDER=bedrock``).

Each provider's SDK is imported only when that provider is selected.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..logging import get_logger
from ..settings import Settings
from .base import Provider
from .offline import OfflineProvider, register_offline_builder

if TYPE_CHECKING:
    from ..aws import AwsClients
    from .anthropic import AnthropicProvider
    from .bedrock import BedrockProvider
    from .openai import OpenAIProvider

log = get_logger()

__all__ = [
    "AnthropicProvider",
    "BedrockProvider",
    "OfflineProvider",
    "OpenAIProvider",
    "Provider",
    "Providers",
    "create_providers",
    "register_offline_builder",
]

_LAZY = {
    "AnthropicProvider": ".anthropic",
    "BedrockProvider": ".bedrock",
    "OpenAIProvider": ".openai",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Providers:
    text: Provider
    vision: Provider
    image: Provider

    async def aclose(self) -> None:
        seen: set[int] = set()
        for p in (self.text, self.vision, self.image):
            if id(p) not in seen:
                seen.add(id(p))
                await p.aclose()


def _resolve(choice: str, order: tuple[str, ...], settings: Settings) -> str:
    if choice != "auto":
        return choice
    keys = {"openai": settings.openai_api_key, "anthropic": settings.anthropic_api_key}
    return next((name for name in order if keys.get(name)), "offline")


def create_providers(settings: Settings, aws: AwsClients | None = None) -> Providers:
    """``aws``: the process's AWS clients, which make Bedrock's client (one session and
    config per process); without it a Bedrock provider opens its own on first use."""
    cache: dict[str, Provider] = {}

    def get(name: str) -> Provider:
        if name not in cache:
            if name == "openai":
                from .openai import OpenAIProvider

                cache[name] = OpenAIProvider(settings)
            elif name == "anthropic":
                from .anthropic import AnthropicProvider

                cache[name] = AnthropicProvider(settings)
            elif name == "bedrock":
                from .bedrock import BedrockProvider

                cache[name] = BedrockProvider(settings, aws)
            else:
                cache[name] = OfflineProvider()
        return cache[name]

    text = _resolve(settings.llm_provider, ("openai", "anthropic"), settings)
    vision = _resolve(settings.vision_provider, ("anthropic", "openai"), settings)
    image = _resolve(settings.image_provider, ("openai",), settings)
    log.info("providers.selected", text=text, vision=vision, image=image)
    return Providers(text=get(text), vision=get(vision), image=get(image))
