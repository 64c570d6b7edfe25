"""Product marketing kits in tests: a product photo, a vision analysis and copy as a model would
answer them, and a client that uploads the photo with the presigned POST and starts the kit."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import httpx2
from PIL import Image

from .client import GatewayClient

RGB = tuple[int, int, int]
CORAL, BLUE, WHITE = (255, 107, 53), (0, 78, 137), (255, 255, 255)
# What the two-block photo shows: (hex, name, percentage) per colour.
PHOTO_COLOURS = (("#FF6B35", "coral-orange", 60), ("#004E89", "deep-blue", 40))


def product_photo(
    width: int = 1000,
    height: int = 800,
    fmt: str = "PNG",
    *,
    base: RGB = CORAL,
    bands: Sequence[tuple[float, float, RGB]] = ((0.6, 1.0, BLUE),),
) -> bytes:
    """A photo in ``base`` with vertical colour bands (from, to, as fractions of the width): by
    default two blocks, 60 % coral and 40 % deep blue; ``bands=()`` for a plain photo."""
    im = Image.new("RGB", (width, height), base)
    for start, end, colour in bands:
        im.paste(colour, (int(width * start), 0, int(width * end), height))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def sample_analysis(
    *,
    colours: Sequence[tuple[str, str, float]] = PHOTO_COLOURS,
    demographics: Sequence[str] = ("students",),
    psychographics: Sequence[str] | None = None,
    personality: Sequence[str] = ("energetic",),
    tone: str = "upbeat",
    unique: Sequence[str] = (),
    confidence: float = 0.89,
    **extra: Any,
) -> dict[str, Any]:
    """A ProductAnalysis as the vision model answers it (seed 002's JSON) for a canned energy
    drink; ``extra`` adds top-level fields (e.g. ``method``)."""
    audience: dict[str, Any] = {"ageRange": "18-35", "demographics": list(demographics)}
    if psychographics is not None:
        audience["psychographics"] = list(psychographics)
    return {
        "product": {"category": "beverage", "subcategory": "energy-drink", "type": "canned-drink"},
        "visual": {
            "dominantColors": [
                {"hex": h, "name": name, "percentage": share} for h, name, share in colours
            ],
            "style": "modern-energetic",
            "mood": "dynamic-bold",
        },
        "branding": {
            "targetAudience": audience,
            "personality": list(personality),
            "tone": tone,
        },
        "features": {
            "packaging": "slim-can",
            "finish": "matte",
            "textVisibility": "high-contrast",
            "uniqueElements": list(unique),
        },
        "confidence": confidence,
        **extra,
    }


def short_copy(keyword: str = "new") -> dict[str, Any]:
    """A ProductCopy with one-word texts (every field within its channel's limit)."""
    return {
        "ecDescription": {
            "short": "Bold.",
            "medium": "Bold and bright.",
            "long": "Bold and bright.",
        },
        "socialMedia": {"facebook": "New!", "instagram": "New!", "linkedin": "New."},
        "adCopy": {"googleAdsHeadline": "New", "googleAdsDescription": "New", "facebookAd": "New"},
        "seo": {"primaryKeywords": [keyword], "longTailKeywords": [], "hashtags": ["#new"]},
    }


class KitClient:
    """The public API as a tenant's key: upload a photo (presigned POST) and start a kit."""

    def __init__(self, api: GatewayClient, api_key: str) -> None:
        self.api = api
        self.headers = {"authorization": f"Bearer {api_key}"}

    async def post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self.api.client.post(f"{self.api.base}{path}", json=body, headers=self.headers)

    async def get(self, path: str) -> httpx2.Response:
        return await self.api.client.get(f"{self.api.base}{path}", headers=self.headers)

    async def upload(
        self, data: bytes, *, content_type: str = "image/png", filename: str = "p.png"
    ) -> str:
        """The photo's S3 key, once its bytes are sent with the ticket's presigned POST."""
        ticket = await self.post(
            "/v1/uploads", {"filename": filename, "content_type": content_type, "size": len(data)}
        )
        assert ticket.status_code == 201, ticket.text
        t = ticket.json()
        assert t["s3_key"].endswith(filename)
        sent = await self.api.client.post(
            t["upload"]["url"],
            data=t["upload"]["fields"],
            files={"file": (filename, data, content_type)},
        )
        assert sent.status_code in (200, 201, 204), sent.text
        return str(t["s3_key"])

    async def start(self, s3_key: str, **extra: Any) -> str:
        """A product kit for the uploaded photo: its job id."""
        resp = await self.post("/v1/jobs", {"kind": "product_marketing", "s3_key": s3_key, **extra})
        assert resp.status_code == 202, resp.text
        assert resp.json()["events_url"].endswith("/events")
        return str(resp.json()["job_id"])
