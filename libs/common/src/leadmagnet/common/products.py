"""Product marketing kits (seed 002): the upload rules, the analysis schema with its basic-CV
fallback, the copy schema with the channel limits, and the asset layout.

A kit is a job of kind ``product_marketing``: upload → analysis → (confirmation) → copy and images
in parallel → join → ``job.completed``.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, ImageStat
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import palette
from .errors import PermanentError
from .models import PRODUCT_KIND as PRODUCT_KIND  # re-exported: the kit flow names it here

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_URL_SECONDS = 300
ALLOWED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MIN_SIDE, MAX_SIDE = 800, 4096
# Pixels decoded at most (checked from the header first): the largest accepted photo.
MAX_PIXELS = MAX_SIDE * MAX_SIDE
BRANCHES = ("copy", "images")  # the parallel branches the join waits for

PACKAGE_STYLES = (
    ("modern-v1", "Modern minimalist design with clean lines"),
    ("bold-v2", "Bold vibrant design with dynamic elements"),
    ("premium-v3", "Premium elegant design with luxury feel"),
)
# Ad creatives per platform preference: (file name, width, height).
AD_FORMATS: dict[str, list[tuple[str, int, int]]] = {
    "facebook": [("facebook-1080x1080", 1080, 1080)],
    "instagram": [("instagram-1080x1080", 1080, 1080)],
    "google-ads": [("google-1200x628", 1200, 628)],
}
THUMBNAIL_SIDE = 320

Short = Field(max_length=120)


def generated_key(job_id: str, name: str) -> str:
    return f"generated/{job_id}/{name}"


def thumbnail_key(job_id: str, asset_id: str) -> str:
    return f"thumbnails/{job_id}/{asset_id}-thumb.webp"


def kit_asset_keys(
    job_id: str, keys: list[str], platforms: list[str] | None = None
) -> dict[str, Any]:
    """The kit's stored files in the shape of seed 002's ``GeneratedAssets`` (S3 keys; see
    ``events.products.GeneratedAssets`` for the URL form): packages in style order, ads in the
    order of the chosen platforms, a thumbnail per asset id, the copy and the analysis."""
    styles = [name for name, _ in PACKAGE_STYLES]
    ad_order = [
        name for p in (platforms or list(AD_FORMATS)) for name, _, _ in AD_FORMATS.get(p, [])
    ]
    prefix = f"generated/{job_id}/"

    def asset_id(key: str) -> str:
        return key.rsplit("/", 1)[-1].rsplit(".", 1)[0]

    def rank(order: list[str], key: str) -> tuple[int, str]:
        name = asset_id(key)
        return (order.index(name) if name in order else len(order), name)

    packages = sorted(
        (k for k in keys if k.startswith(prefix + "packages/")), key=lambda k: rank(styles, k)
    )
    ads = sorted(
        (k for k in keys if k.startswith(prefix + "ads/")), key=lambda k: rank(ad_order, k)
    )
    thumbs = {
        k.rsplit("/", 1)[-1].removesuffix("-thumb.webp"): k
        for k in keys
        if k.startswith(f"thumbnails/{job_id}/")
    }
    order = [asset_id(k) for k in packages + ads]
    thumbnails = {a: thumbs[a] for a in order if a in thumbs}
    thumbnails.update({a: k for a, k in sorted(thumbs.items()) if a not in thumbnails})
    return {
        "packages": packages,
        "ads": ads,
        "thumbnails": thumbnails,
        "content": generated_key(job_id, "content.json")
        if generated_key(job_id, "content.json") in keys
        else None,
        "analysis": generated_key(job_id, "analysis.json")
        if generated_key(job_id, "analysis.json") in keys
        else None,
    }


def safe_filename(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1]).strip(".-")
    return (base or "upload")[:100]


# ---- preferences ----------------------------------------------------------------------------

Platform = Literal["ec", "facebook", "instagram", "google-ads"]
PLATFORMS: tuple[Platform, ...] = ("ec", "facebook", "instagram", "google-ads")


class ProductPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    tone: Literal["professional", "casual", "playful"] = "professional"
    platforms: list[Platform] = Field(
        default_factory=lambda: list(PLATFORMS),
        min_length=1,
        max_length=4,
    )
    targetLength: Literal["short", "medium", "long"] = "medium"


# ---- the uploaded image ---------------------------------------------------------------------


@dataclass(frozen=True)
class ValidImage:
    media_type: str
    width: int
    height: int


@contextmanager
def _decoding(data: bytes) -> Iterator[Image.Image]:
    """The upload opened with Pillow's decompression-bomb warning as an error; a bomb or anything
    a decoder rejects becomes a PermanentError (the body's own PermanentErrors pass through)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                yield im
    except PermanentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PermanentError("the image is a decompression bomb", code="bad_image") from None
    except Exception:  # any decoder complaint: not a usable image
        raise PermanentError(
            "the upload is not a readable JPEG, PNG or WebP image", code="bad_image"
        ) from None


def validate_image(data: bytes, declared: str | None) -> ValidImage:
    """Check the real bytes: JPEG/PNG/WebP only, matching what was declared, each side 800-4096
    px, and no decompression bomb. PermanentError with the reason otherwise."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PermanentError(f"the image is {len(data)} bytes; the limit is 10 MB", code="too_big")
    with _decoding(data) as im:
        fmt = im.format or ""
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise PermanentError(
                f"the image is {width}x{height} px; each side must be at most {MAX_SIDE}",
                code="bad_dimensions",
            )
        im.verify()
    media = next((m for m, f in ALLOWED_TYPES.items() if f == fmt), None)
    if media is None:
        raise PermanentError(
            f"{fmt or 'this'} images are not accepted: JPEG, PNG or WebP only", code="bad_type"
        )
    if declared and declared != media:
        raise PermanentError(
            f"the upload was declared {declared} but its bytes are {media}", code="type_mismatch"
        )
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise PermanentError(
            f"the image is {width}x{height} px; each side must be {MIN_SIDE}-{MAX_SIDE} px",
            code="bad_dimensions",
        )
    return ValidImage(media, width, height)


# ---- analysis (the seed's schema) -------------------------------------------------------------


class Colour(BaseModel):
    hex: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$")
    name: str = Field(max_length=60)
    percentage: float = Field(ge=0, le=100)


class ProductInfo(BaseModel):
    category: str = Short
    subcategory: str = Short
    type: str = Short


class Visual(BaseModel):
    dominantColors: list[Colour] = Field(min_length=1, max_length=8)
    style: str = Short
    mood: str = Short


class Audience(BaseModel):
    ageRange: str = Field(max_length=40)
    demographics: list[str] = Field(default_factory=list, max_length=12)
    psychographics: list[str] = Field(default_factory=list, max_length=12)


class Branding(BaseModel):
    targetAudience: Audience
    personality: list[str] = Field(default_factory=list, max_length=12)
    tone: str = Short


class Features(BaseModel):
    packaging: str = Short
    finish: str = Short
    textVisibility: str = Short
    uniqueElements: list[str] = Field(default_factory=list, max_length=12)


class ProductAnalysis(BaseModel):
    product: ProductInfo
    visual: Visual
    branding: Branding
    features: Features
    confidence: float = Field(ge=0, le=1)
    method: Literal["vision", "basic-cv"] = Field(
        "vision",
        description="basic-cv: the vision model was unavailable; colours are measured,"
        " the rest is generic and confidence is low.",
    )
    fallbackReason: str | None = Field(None, max_length=500)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The nearest name in the palette table (CIELAB distance)."""
    return palette.colour_name(rgb)


def open_photo(data: bytes) -> Image.Image:
    """The upload decoded to RGB, after checking the header's size against the pixel cap
    (``MAX_PIXELS``: the accepted range is 800-4096 px a side) *before* any pixel is decoded, and
    with Pillow's decompression-bomb warning as an error. CPU-heavy: call it in a thread."""
    with _decoding(data) as im:
        width, height = im.size  # the header only
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise PermanentError(
                f"the image is {width}x{height} px ({width * height} pixels); each side"
                f" must be at most {MAX_SIDE} px ({MAX_PIXELS} pixels in all)",
                code="bad_dimensions",
            )
        return im.convert("RGB")


def basic_cv_analysis(data: bytes, reason: str) -> ProductAnalysis:
    """An analysis from the pixels alone: the dominant colours (median-cut quantisation, merged
    in CIELAB, each a real pixel of the photo; see ``palette``), a style and mood from brightness
    and saturation, everything else generic, confidence low. CPU-bound: run it in a thread."""
    photo = open_photo(data)
    colours = [
        Colour(hex=c.hex, name=c.name, percentage=c.percentage)
        for c in palette.dominant_colours(photo)
    ]
    small = palette.sample(photo, 160)
    hsv = small.convert("HSV")
    _, saturation, value = (s / 255 for s in ImageStat.Stat(hsv).mean)
    if value < 0.35:
        style, mood, personality = "dark-premium", "sophisticated", ["premium", "refined"]
    elif saturation > 0.45:
        style, mood, personality = "bold-vibrant", "energetic", ["energetic", "confident"]
    else:
        style, mood, personality = "clean-minimal", "calm", ["trustworthy", "modern"]
    return ProductAnalysis(
        product=ProductInfo(category="unknown", subcategory="unknown", type="product"),
        visual=Visual(dominantColors=colours, style=style, mood=mood),
        branding=Branding(
            targetAudience=Audience(ageRange="18-65", demographics=["general"]),
            personality=personality,
            tone="neutral",
        ),
        features=Features(
            packaging="unknown",
            finish="glossy" if value > 0.7 else "matte",
            textVisibility="unknown",
        ),
        confidence=0.2,
        method="basic-cv",
        fallbackReason=reason[:500],
    )


# ---- copy (the seed's schema, with the channel limits) -----------------------------------------

LIMITS: dict[str, int] = {
    "ecDescription.short": 150,
    "ecDescription.medium": 500,
    "ecDescription.long": 1000,
    "socialMedia.facebook": 2000,
    "socialMedia.instagram": 2200,
    "socialMedia.linkedin": 3000,
    "adCopy.googleAdsHeadline": 30,
    "adCopy.googleAdsDescription": 90,
    "adCopy.facebookAd": 125,
}
LIST_LIMITS = {"primaryKeywords": 7, "longTailKeywords": 15, "hashtags": 15}


class EcDescription(BaseModel):
    short: str
    medium: str
    long: str


class SocialMedia(BaseModel):
    facebook: str
    instagram: str
    linkedin: str


class AdCopy(BaseModel):
    googleAdsHeadline: str
    googleAdsDescription: str
    facebookAd: str


class Seo(BaseModel):
    primaryKeywords: list[str] = Field(default_factory=list)
    longTailKeywords: list[str] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, v: list[str]) -> list[str]:
        return ["#" + re.sub(r"[^\w]", "", h.lstrip("#")) for h in v if re.sub(r"[^\w]", "", h)]


class ProductCopy(BaseModel):
    """What the copy model must answer (the seed's JSON)."""

    ecDescription: EcDescription
    socialMedia: SocialMedia
    adCopy: AdCopy
    seo: Seo


def over_limit(copy: ProductCopy) -> dict[str, int]:
    """Fields longer than their channel allows: {path: length}."""
    data = copy.model_dump()
    out = {}
    for path, limit in LIMITS.items():
        group, name = path.split(".")
        text = str(data[group][name])
        if len(text) > limit:
            out[path] = len(text)
    return out


def trim_words(text: str, limit: int) -> str:
    """The longest prefix of whole words that fits (never a cut word), without dangling
    punctuation."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else ""
    return cut.rstrip(" ,;:-\u2013\u2014")


def fit_limits(copy: ProductCopy) -> tuple[ProductCopy, list[str]]:
    """Trim what is still too long at a word boundary; cap the keyword lists. Returns the copy
    and a note per change."""
    data: dict[str, Any] = copy.model_dump()
    notes = []
    for path, length in over_limit(copy).items():
        group, name = path.split(".")
        data[group][name] = trim_words(data[group][name], LIMITS[path])
        notes.append(f"{path} trimmed from {length} to {len(data[group][name])} characters")
    for name, limit in LIST_LIMITS.items():
        if len(data["seo"][name]) > limit:
            notes.append(f"seo.{name} capped at {limit}")
            data["seo"][name] = data["seo"][name][:limit]
    return ProductCopy.model_validate(data), notes
