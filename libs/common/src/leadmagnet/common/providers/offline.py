"""The offline provider: deterministic, no network, zero cost — so ``make run`` works without an
API key. Its text is a clearly labelled draft built from the request's data (a lead-magnet draft
report from the form answers; structured answers from the builders flows register); its images
are real pictures drawn with Pillow and labelled as placeholders (product kits compose theirs from
the uploaded photo instead: ``creatives``)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw
from pydantic import BaseModel

from ..creatives import draw_text
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


def image_cost(stage: str | None, size: str, quality: Any = "standard") -> CallCost:
    """The zero-cost record of one offline picture (kit creatives composed without a model)."""
    usage = Usage(images=1, image_quality=quality, image_size=size)
    return _cost("image", stage, usage)


OFFLINE_REPORT_NOTE = (
    "> **Draft generated offline — no AI provider configured.** This is an offline draft built"
    " from your answers alone; set an AI provider (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or"
    " `LLM_PROVIDER=bedrock`) for the real report."
)
_PRIVATE = ("email", "phone", "tel", "mobile", "password", "token")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")

# Goal themes: (keywords, diagnosis, three actions, the metric to watch).
_THEMES: list[tuple[tuple[str, ...], str, tuple[str, str, str], str]] = [
    (
        ("lead", "signup", "sign-up", "subscriber", "newsletter", "demo", "pipeline", "inquir"),
        "More leads usually come from one clear offer, shown to the right people, with a form"
        " that asks for little.",
        (
            "**Week 1 — one offer.** Write down the single offer your best customers would trade"
            " an e-mail address for, and put it above the fold on your busiest page.",
            "**Weeks 2-3 — one channel.** Pick the channel that already sends you visitors and"
            " run the offer there; cut the form to the fields you really use.",
            "**Week 4 — follow up.** Answer every new lead within a day and note which ones turn"
            " into conversations.",
        ),
        "new qualified leads per week",
    ),
    (
        ("sale", "revenue", "customer", "conversion", "order", "booking", "client", "profit"),
        "Revenue grows fastest by converting the interest you already have before buying more"
        " of it.",
        (
            "**Week 1 — find the leak.** Follow one visitor's path from first visit to purchase"
            " and list where people stop.",
            "**Weeks 2-3 — fix the biggest leak.** Change one thing there (price clarity, social"
            " proof, a shorter checkout) and measure before and after.",
            "**Week 4 — ask for the sale.** Contact recent enquiries and lapsed customers with a"
            " clear, time-bound offer.",
        ),
        "conversion rate from enquiry to sale",
    ),
    (
        ("traffic", "visitor", "awareness", "brand", "seo", "audience", "follower", "reach"),
        "Awareness compounds when one audience hears one message in the same place, often.",
        (
            "**Week 1 — one audience, one message.** Describe the person you want to reach in two"
            " sentences and the one thing they should remember about you.",
            "**Weeks 2-3 — publish on a rhythm.** Post useful content twice a week where that"
            " audience already spends time; reuse each piece in two formats.",
            "**Week 4 — borrow an audience.** Partner with one newsletter, podcast or community"
            " that already has your customers.",
        ),
        "returning visitors per week",
    ),
    (
        ("retention", "churn", "repeat", "loyal", "renewal", "upsell"),
        "Keeping customers is cheaper than finding new ones, and their reasons to stay are"
        " usually simple.",
        (
            "**Week 1 — listen.** Call five recent customers and five who left; ask what nearly"
            " made them leave.",
            "**Weeks 2-3 — fix the first week.** Make the first days after purchase the best"
            " part of the experience: a welcome, a quick win, a check-in.",
            "**Week 4 — reward loyalty.** Offer something small and personal to your most loyal"
            " customers and ask them for a referral.",
        ),
        "customers who buy again within 90 days",
    ),
]
_GENERAL = (
    (),
    "The fastest progress comes from choosing one outcome and measuring it every week.",
    (
        "**Week 1 — choose.** Pick the one outcome that matters most this month and write down"
        " why.",
        "**Weeks 2-3 — act.** Run one small experiment towards it each week and keep notes.",
        "**Week 4 — review.** Keep what moved the number, drop what did not, and plan the next"
        " month.",
    ),
    "the one number that proves progress, checked weekly",
)


def _md(value: Any, limit: int = 400) -> str:
    """A form answer as safe Markdown text on one line (answers are data, not markup)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return _MD_SPECIAL.sub(r"\\\1", text)


def _answers(request: TextRequest) -> dict[str, Any]:
    match = _JSON_BLOCK.search(request.prompt)
    if not match:
        return {}
    try:
        loaded = json.loads(match.group(1))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def draft_markdown(request: TextRequest) -> str:
    """A draft report from the lead's answers (the JSON block of the request) — headings, a
    short diagnosis, a 30-day plan and a metric — clearly labelled as an offline draft. The
    request's instructions are for a model: none of their text is copied into the draft."""
    facts = {
        k: v
        for k, v in _answers(request).items()
        if v not in (None, "", [], {}) and not any(p in k.lower() for p in _PRIVATE)
    }
    name = _md(facts.get("name") or facts.get("first_name") or "", 80)
    company = _md(facts.get("company") or facts.get("business") or "", 120)
    goal_key = next((k for k in ("goal", "goals", "objective", "challenge") if k in facts), None)
    goal = _md(facts[goal_key], 300) if goal_key else ""
    lowered = " ".join(str(v) for v in facts.values()).lower()
    theme = next((t for t in _THEMES if any(k in lowered for k in t[0])), _GENERAL)
    _, diagnosis, actions, metric = theme
    title = f"# A first growth plan for {company or name or 'your business'}"
    where = [
        f"{name + ', y' if name else 'Y'}ou told us that "
        + (f"{company} wants" if company else "you want")
        + (f" to achieve: “{goal}”." if goal else " to grow."),
        diagnosis,
    ]
    lines = [title, "", OFFLINE_REPORT_NOTE, "", "## Where you are", "", " ".join(where), ""]
    lines += ["## What you told us", ""]
    lines += [
        f"- **{_md(k.replace('_', ' ').capitalize(), 60)}:** {_md(v)}" for k, v in facts.items()
    ]
    if not facts:
        lines.append("- (no answers were given)")
    lines += ["", "## Your plan for the next 30 days", ""]
    lines += [f"{i}. {a}" for i, a in enumerate(actions, 1)]
    focus = f" towards “{goal}”" if goal else ""
    lines += [
        "",
        "## One metric to watch",
        "",
        f"**{metric.capitalize()}**: write today's value down, check it every week, and judge"
        f" each action above by whether it moved this number{focus}.",
        "",
        "## Next step",
        "",
        "Book thirty minutes with us to turn this draft into a plan made for"
        f" {company or 'your business'}.",
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
    # The words fit the canvas whatever its size (measured, shrunk or wrapped; never clipped).
    size = max(12, min(width, height) // 14)
    for role, text, upper, lower in (
        ("title", "PLACEHOLDER", 0.3, 0.5),
        ("label", label[:60], 0.52, 0.72),
    ):
        box = (
            round(width * 0.06),
            round(height * upper),
            round(width * 0.94),
            round(height * lower),
        )
        shadow = (box[0] + 2, box[1] + 2, box[2] + 2, box[3] + 2)
        for b, fill in ((shadow, (0, 0, 0)), (box, (255, 255, 255))):
            draw_text(
                draw, role, text, b, face="sans-bold", fill=fill, max_size=size, min_size=8,
                align="center", valign="middle",
            )  # fmt: skip
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
