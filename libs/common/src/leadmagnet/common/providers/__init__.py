"""Provider selection: one text, one vision and one image provider per process.

``auto`` picks a provider whose API key is set (text: OpenAI, then Anthropic; vision: Anthropic,
then OpenAI; images: OpenAI), else the offline provider, and logs the choice (never the key).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..logging import get_logger
from ..settings import Settings
from .anthropic import AnthropicProvider
from .base import Provider
from .offline import OfflineProvider, register_offline_builder
from .openai import OpenAIProvider

log = get_logger()

__all__ = [
    "AnthropicProvider",
    "OfflineProvider",
    "OpenAIProvider",
    "Provider",
    "Providers",
    "create_providers",
    "register_offline_builder",
]


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


def create_providers(settings: Settings) -> Providers:
    cache: dict[str, Provider] = {}

    def get(name: str) -> Provider:
        if name not in cache:
            if name == "openai":
                cache[name] = OpenAIProvider(settings)
            elif name == "anthropic":
                cache[name] = AnthropicProvider(settings)
            else:
                cache[name] = OfflineProvider()
        return cache[name]

    text = _resolve(settings.llm_provider, ("openai", "anthropic"), settings)
    vision = _resolve(settings.vision_provider, ("anthropic", "openai"), settings)
    image = _resolve(settings.image_provider, ("openai",), settings)
    log.info("providers.selected", text=text, vision=vision, image=image)
    return Providers(text=get(text), vision=get(vision), image=get(image))
