"""Product kits (seed 002): the photo checks, the basic-CV analysis, and the channel limits of
the copy (trimmed at word boundaries, never mid-word)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from leadmagnet.common.errors import PermanentError
from leadmagnet.common.events.products import GeneratedAssets, JobProgress
from leadmagnet.common.products import (
    LIMITS,
    ProductCopy,
    basic_cv_analysis,
    fit_limits,
    kit_asset_keys,
    over_limit,
    safe_filename,
    trim_words,
    validate_image,
)


def image(
    width: int, height: int, fmt: str = "PNG", colour: tuple[int, int, int] = (20, 40, 60)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format=fmt)
    return buf.getvalue()


def test_accepted_photos() -> None:
    for fmt, media in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        checked = validate_image(image(800, 4096, fmt), media)
        assert (checked.media_type, checked.width, checked.height) == (media, 800, 4096)


@pytest.mark.parametrize(
    ("data", "declared", "message"),
    [
        (image(799, 900), "image/png", "each side must be 800-4096 px"),
        (image(900, 4097), "image/png", "each side must be 800-4096 px"),
        (image(900, 900, "GIF"), "image/png", "GIF images are not accepted"),
        (image(900, 900, "JPEG"), "image/png", "declared image/png but its bytes are image/jpeg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", "not a readable"),
        (image(900, 900)[:200], "image/png", "not a readable"),
    ],
)
def test_refused_photos_say_why(data: bytes, declared: str, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        validate_image(data, declared)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas (what a bomb looks like before decoding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(PermanentError, match="decompression bomb"):
        validate_image(png_claiming(30000, 30000), "image/png")  # past Pillow's own limit
    with pytest.raises(PermanentError, match="at most 4096"):
        validate_image(png_claiming(5000, 5000), "image/png")  # past ours, never decoded


def test_basic_cv_measures_the_dominant_colours() -> None:
    im = Image.new("RGB", (1000, 1000), (255, 107, 53))
    im.paste((0, 78, 137), (700, 0, 1000, 1000))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    a = basic_cv_analysis(buf.getvalue(), "vision down")
    colours = a.visual.dominantColors
    assert (colours[0].hex, colours[0].name) == ("#FF6B35", "coral-orange")
    assert 65 <= colours[0].percentage <= 75
    assert colours[1].hex == "#004E89"
    assert a.method == "basic-cv"
    assert a.confidence == 0.2
    assert a.fallbackReason == "vision down"


def test_trim_words_never_cuts_a_word() -> None:
    assert trim_words("Unbelievably refreshing energy for every day", 30) == (
        "Unbelievably refreshing energy"
    )
    assert trim_words("short enough", 30) == "short enough"
    assert trim_words("Fresh, bold, and ready", 12) == "Fresh, bold"
    assert trim_words("Supercalifragilisticexpialidocious", 10) == ""


def test_fit_limits_brings_every_field_within_its_channel() -> None:
    long = " ".join(["word"] * 700)
    copy = ProductCopy.model_validate(
        {
            "ecDescription": {"short": long, "medium": long, "long": long},
            "socialMedia": {"facebook": long, "instagram": long, "linkedin": "ok"},
            "adCopy": {"googleAdsHeadline": long, "googleAdsDescription": long, "facebookAd": long},
            "seo": {"primaryKeywords": list("abcdefghij"), "hashtags": ["#a b", "c"]},
        }
    )
    assert set(over_limit(copy)) == set(LIMITS) - {"socialMedia.linkedin"}
    fitted, notes = fit_limits(copy)
    assert over_limit(fitted) == {}
    assert fitted.adCopy.googleAdsHeadline == " ".join(["word"] * 6)  # 29 chars
    assert len(fitted.seo.primaryKeywords) == 7
    assert fitted.seo.hashtags == ["#ab", "#c"]
    assert any("googleAdsHeadline trimmed" in n for n in notes)


def test_upload_names_are_made_safe() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("my photo (1).PNG") == "my-photo-1-.PNG"
    assert safe_filename("...") == "upload"


def test_kit_assets_take_the_seeds_generated_assets_shape() -> None:
    job = "job_x"
    stored = [
        f"generated/{job}/ads/google-1200x628.png",
        f"generated/{job}/ads/facebook-1080x1080.png",
        f"generated/{job}/analysis.json",
        f"generated/{job}/content.json",
        f"generated/{job}/packages/premium-v3.png",
        f"generated/{job}/packages/bold-v2.png",
        f"generated/{job}/packages/modern-v1.png",
        f"thumbnails/{job}/google-1200x628-thumb.webp",
        f"thumbnails/{job}/modern-v1-thumb.webp",
        f"thumbnails/{job}/facebook-1080x1080-thumb.webp",
    ]
    keys = kit_asset_keys(job, stored, ["google-ads", "facebook"])
    assert keys == {
        "packages": [
            f"generated/{job}/packages/modern-v1.png",
            f"generated/{job}/packages/bold-v2.png",
            f"generated/{job}/packages/premium-v3.png",
        ],
        "ads": [  # the order the platforms were chosen in
            f"generated/{job}/ads/google-1200x628.png",
            f"generated/{job}/ads/facebook-1080x1080.png",
        ],
        "thumbnails": {
            "modern-v1": f"thumbnails/{job}/modern-v1-thumb.webp",
            "google-1200x628": f"thumbnails/{job}/google-1200x628-thumb.webp",
            "facebook-1080x1080": f"thumbnails/{job}/facebook-1080x1080-thumb.webp",
        },
        "content": f"generated/{job}/content.json",
        "analysis": f"generated/{job}/analysis.json",
    }
    assert list(keys["thumbnails"]) == ["modern-v1", "google-1200x628", "facebook-1080x1080"]
    urls = GeneratedAssets.model_validate({**keys, "expiresAt": None})
    assert urls.packages == keys["packages"]
    assert kit_asset_keys(job, [], None)["content"] is None


def test_job_progress_schema_documents_the_complete_payload() -> None:
    schema = JobProgress.model_json_schema()["properties"]["payload"]
    assets = schema["properties"]["assets"]
    assert set(assets["properties"]) == {
        "packages",
        "ads",
        "thumbnails",
        "content",
        "analysis",
        "expiresAt",
    }
    assert "identical on the topic and in the SSE" in schema["description"]
