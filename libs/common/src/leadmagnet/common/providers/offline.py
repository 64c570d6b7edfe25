"""The offline provider: deterministic, no network, zero cost — so ``make run`` works without an
API key. Its text is a clearly labelled draft built from the request; its images are real
pictures drawn with Pillow and labelled as placeholders."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel

from ..errors import PermanentError
from .base import CallCost, ImageRequest, ImageResult, TextRequest, TextResult, Usage

OfflineBuilder = Callable[[TextRequest], BaseModel]
_BUILDERS: dict[type[BaseModel], OfflineBuilder] = {}
_JSON_BLOCK = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)
DEFAULT_PALETTE = ["#1d3557", "#457b9d", "#a8dadc", "#f1faee", "#e63946"]


def register_offline_builder(model: type[BaseModel], builder: OfflineBuilder) -> None:
    """Flows that ask for structured output register how the offline provider answers."""
    _BUILDERS[model] = builder


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _cost(operation: Any, stage: str | None, usage: Usage) -> CallCost:
    return CallCost(
        provider="offline",
        model="offline",
        operation=operation,
        stage=stage,
        usage=usage,
        cost_micros=0,
        price_version="offline",
    )


def draft_markdown(request: TextRequest) -> str:
    facts: dict[str, Any] = {}
    match = _JSON_BLOCK.search(request.prompt)
    if match:
        try:
            loaded = json.loads(match.group(1))
            facts = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            facts = {}
    brief = _JSON_BLOCK.sub("", request.prompt).strip().splitlines()
    name = str(facts.get("name") or "there")
    lines = [
        f"# Your personalised plan, {name}",
        "",
        "> **Draft generated offline — no AI provider configured.** Set `OPENAI_API_KEY` or "
        "`ANTHROPIC_API_KEY` for a written report.",
        "",
        "## What you told us",
        "",
    ]
    lines += [f"- **{k.replace('_', ' ').title()}:** {v}" for k, v in facts.items()] or ["- —"]
    lines += ["", "## The brief", ""]
    lines += [f"{line.strip()}" for line in brief[:6] if line.strip()]
    lines += [
        "",
        "## Next steps",
        "",
        "1. Pick the one outcome that matters most this month.",
        "2. Write down the number that proves progress and check it weekly.",
        "3. Book thirty minutes with us to turn this draft into a plan.",
        "",
    ]
    return "\n".join(lines)


def _hex(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        return (128, 128, 128)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def draw_placeholder(width: int, height: int, palette: list[str], label: str) -> bytes:
    colours = [_hex(c) for c in (palette or DEFAULT_PALETTE)] or [(128, 128, 128)]
    top, bottom = colours[0], colours[1 % len(colours)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    seed = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16)
    for i, colour in enumerate(colours[2:5]):
        r = max(8, min(width, height) // (4 + i))
        cx = (seed >> (i * 5)) % max(1, width)
        cy = (seed >> (i * 7)) % max(1, height)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    font = ImageFont.load_default(size=max(12, min(width, height) // 14))
    for text, dy in (("PLACEHOLDER", -0.06), (label[:60], 0.06)):
        box = draw.textbbox((0, 0), text, font=font)
        tx = (width - (box[2] - box[0])) / 2
        ty = height / 2 + dy * height - (box[3] - box[1]) / 2
        draw.text((tx + 2, ty + 2), text, font=font, fill=(0, 0, 0))
        draw.text((tx, ty), text, font=font, fill=(255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class OfflineProvider:
    name = "offline"

    async def generate_text(self, request: TextRequest) -> TextResult:
        operation = "vision" if request.images else "text"
        parsed: BaseModel | None = None
        if request.output_model is not None:
            builder = _BUILDERS.get(request.output_model)
            if builder is None:
                raise PermanentError(
                    f"the offline provider cannot produce {request.output_model.__name__}",
                    code="unsupported",
                )
            parsed = builder(request)
            text = parsed.model_dump_json()
        else:
            text = draft_markdown(request)
        usage = Usage(
            input_tokens=_words(request.system + request.prompt), output_tokens=_words(text)
        )
        return TextResult(text=text, parsed=parsed, cost=_cost(operation, request.stage, usage))

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        try:
            width, height = (int(v) for v in request.size.lower().split("x"))
        except ValueError:
            raise PermanentError(
                f"image size {request.size!r} is not WxH", code="bad_size"
            ) from None
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise PermanentError(f"image size {request.size} is out of range", code="bad_size")
        data = draw_placeholder(
            width, height, request.palette, request.label or request.prompt[:40]
        )
        usage = Usage(images=1, image_quality=request.quality, image_size=request.size)
        return ImageResult(
            data=data,
            media_type="image/png",
            width=width,
            height=height,
            cost=_cost("image", request.stage, usage),
        )

    async def aclose(self) -> None:
        return None
