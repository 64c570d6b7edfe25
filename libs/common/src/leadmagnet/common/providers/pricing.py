"""Cost of a provider call from its usage and the price data file (never from code).

Money is integer micro-dollars, computed in Decimal and rounded half-up once per call.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..logging import get_logger
from .base import CallCost, Usage

log = get_logger()

MILLION = Decimal(1_000_000)


class PriceTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.version = str(data["version"])
        self.text: dict[str, dict[str, Decimal]] = {
            model: {k: Decimal(v) for k, v in prices.items()}
            for model, prices in data.get("text", {}).items()
        }
        self.images: dict[str, dict[str, Decimal]] = {
            model: {k: Decimal(v) for k, v in prices.items()}
            for model, prices in data.get("images", {}).items()
        }

    def _text_prices(self, model: str) -> dict[str, Decimal] | None:
        if model in self.text:
            return self.text[model]
        # Dated snapshots ("gpt-5.4-mini-2026-03-17") price like their family.
        family = max((m for m in self.text if model.startswith(m + "-")), key=len, default=None)
        return self.text[family] if family else None

    def cost_of(
        self, usage: Usage, model: str, operation: Literal["text", "vision", "image"]
    ) -> tuple[int, str]:
        """(micro-dollars, price version used). Unknown models cost 0 and say so."""
        if operation == "image":
            prices = self.images.get(model)
            if prices is None:
                log.warning("pricing.unknown_model", model=model, operation=operation)
                return 0, f"unknown-model:{model}"
            quality = usage.image_quality or "standard"
            per_image = prices.get(quality, prices.get("standard"))
            # Size tiers (Nova Canvas: up to 1024x1024, then up to 2048x2048): "max_pixels" is
            # the base tier's limit, "<quality>_large" the price above it.
            limit = prices.get("max_pixels")
            if limit is not None and _pixels(usage.image_size) > limit:
                per_image = prices.get(f"{quality}_large", prices.get("standard_large", per_image))
            usd = (per_image or Decimal(0)) * usage.images
        else:
            text = self._text_prices(model)
            if text is None:
                log.warning("pricing.unknown_model", model=model, operation=operation)
                return 0, f"unknown-model:{model}"
            usd = (
                Decimal(usage.input_tokens) * text.get("input", Decimal(0))
                + Decimal(usage.cached_input_tokens)
                * text.get("cached_input", text.get("input", Decimal(0)))
                + Decimal(usage.cache_write_tokens)
                * text.get("cache_write", text.get("input", Decimal(0)))
                # reasoning tokens are already part of output_tokens: never added twice
                + Decimal(usage.output_tokens) * text.get("output", Decimal(0))
            ) / MILLION
        micros = int((usd * MILLION).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return micros, self.version

    def call_cost(
        self,
        provider: str,
        model: str,
        operation: Literal["text", "vision", "image"],
        usage: Usage,
        *,
        stage: str | None,
        request_id: str | None,
        price_model: str | None = None,
    ) -> CallCost:
        """The record of one provider call, priced by this table (under ``price_model`` when the
        model id is not the priced name, e.g. a Bedrock inference profile)."""
        priced = model if price_model is None else price_model
        micros, version = self.cost_of(usage, priced, operation)
        return CallCost(
            provider=provider,
            model=model,
            operation=operation,
            stage=stage,
            request_id=request_id,
            usage=usage,
            cost_micros=micros,
            price_version=version,
        )


def _pixels(size: str | None) -> int:
    try:
        width, height = (int(v) for v in (size or "").lower().split("x"))
    except ValueError:
        return 0
    return width * height


@lru_cache(maxsize=4)
def load_prices(path: Path | None = None) -> PriceTable:
    if path is not None:
        return PriceTable(json.loads(Path(path).read_text(encoding="utf-8")))
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable(json.loads(text))
