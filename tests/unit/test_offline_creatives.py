"""Offline kit creatives and the basic-CV palette, checked as a person would: the palette names
the colours really in the photo, the creatives show the uploaded product, their text stays on the
canvas, the thumbnails are WebP. Sample creatives are written to test-output/offline-creatives/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from leadmagnet.common import creatives
from leadmagnet.common.errors import PermanentError
from leadmagnet.common.palette import (
    MERGE_DELTA_E,
    delta_e,
    dominant_colours,
    rgb_of,
    rgb_to_lab,
)
from leadmagnet.common.products import (
    MAX_SIDE,
    THUMBNAIL_SIDE,
    ProductAnalysis,
    ProductPreferences,
    basic_cv_analysis,
    open_photo,
)
from leadmagnet.imager.flows import product_analysis, product_images
from leadmagnet.testing.kits import sample_analysis

SAMPLES = Path(__file__).resolve().parents[2] / "test-output" / "offline-creatives"
CREAM, RED, BLUE = (243, 234, 215), (200, 35, 45), (30, 70, 160)
MARKER = (0, 200, 90)  # a distinctive green patch on the product


def product_photo(fmt: str = "JPEG", background: tuple[int, int, int] = CREAM) -> bytes:
    """A cream backdrop, a red bottle with a blue label and a green marker patch; a little blur
    and JPEG noise, like a real photo."""
    im = Image.new("RGB", (1200, 1000), background)
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((450, 120, 750, 900), 60, fill=RED)
    d.rectangle((450, 420, 750, 640), fill=BLUE)
    d.rectangle((540, 470, 660, 590), fill=MARKER)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    return buf.getvalue()


def busy_photo() -> bytes:
    """No uniform background: a gradient scene, so the product stays a rounded card."""
    im = Image.new("RGB", (1000, 900))
    d = ImageDraw.Draw(im)
    for y in range(900):
        d.line([(0, y), (1000, y)], fill=(40 + y // 6, 90, 200 - y // 8))
    d.ellipse((300, 200, 700, 700), fill=(240, 200, 40))
    d.rectangle((450, 400, 560, 510), fill=MARKER)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def pixels_near(image: Image.Image, colour: tuple[int, int, int], tolerance: float = 6.0) -> int:
    """How many pixels are within ``tolerance`` (CIE76) of the colour."""
    target = rgb_to_lab(colour)
    small = image.convert("RGB")
    data = small.tobytes()
    return sum(
        1
        for i in range(0, len(data), 3)
        if abs(data[i] - colour[0]) + abs(data[i + 1] - colour[1]) + abs(data[i + 2] - colour[2])
        < 40
        and delta_e(rgb_to_lab((data[i], data[i + 1], data[i + 2])), target) <= tolerance
    )


# ---- the palette ----------------------------------------------------------------------------


def test_palette_describes_the_photo() -> None:
    data = product_photo()
    analysis = basic_cv_analysis(data, "offline")
    colours = analysis.visual.dominantColors
    rgbs = [rgb for rgb in (rgb_of(c.hex) for c in colours) if rgb is not None]
    labs = [rgb_to_lab(c) for c in rgbs]
    # The cream backdrop, the red bottle and the blue label are all there, near their colours.
    for wanted in (CREAM, RED, BLUE):
        assert min(delta_e(rgb_to_lab(wanted), lab) for lab in labs) < 8, (wanted, colours)
    assert colours[0].name in ("cream", "ivory", "off-white", "beige")
    names = {c.name for c in colours}
    assert names & {"red", "crimson"}, names
    assert names & {"blue", "royal-blue", "deep-blue"}, names
    # Whole percent adding up to 100, largest first, 3-6 colours.
    assert sum(c.percentage for c in colours) == 100
    assert [c.percentage for c in colours] == sorted((c.percentage for c in colours), reverse=True)
    assert 3 <= len(colours) <= 6
    # No two colours are near duplicates (the old palette had three creams).
    for i, a in enumerate(labs):
        for b in labs[i + 1 :]:
            assert delta_e(a, b) >= MERGE_DELTA_E
    # Every colour is a real pixel of the photo (not an average that exists nowhere).
    photo = open_photo(data)
    for rgb in rgbs:
        assert pixels_near(photo.resize((300, 250), Image.Resampling.NEAREST), rgb, 3.0) > 0, rgb


def test_palette_keeps_exact_colours_of_flat_images() -> None:
    im = Image.new("RGB", (900, 900), (255, 107, 53))
    im.paste((0, 78, 137), (630, 0, 900, 900))
    colours = dominant_colours(im)
    assert [(c.hex, c.name, c.percentage) for c in colours] == [
        ("#FF6B35", "coral-orange", 70),
        ("#004E89", "deep-blue", 30),
    ]


# ---- the photo is checked before it is decoded -----------------------------------------------


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))


@pytest.mark.parametrize(
    "decode",
    [open_photo, product_analysis.for_vision, product_images.source_photo],
    ids=["open_photo", "for_vision", "source_photo"],
)
def test_oversized_photos_are_refused_from_the_header(decode: object) -> None:
    assert callable(decode)
    with pytest.raises(PermanentError, match=f"each side must be at most {MAX_SIDE} px"):
        decode(png_header(MAX_SIDE + 1, 1000))
    with pytest.raises(PermanentError, match=r"decompression bomb|at most"):
        decode(png_header(40000, 40000))
    with pytest.raises(PermanentError, match="not a readable"):
        decode(b"not an image at all")


# ---- creatives --------------------------------------------------------------------------------

ANALYSIS = ProductAnalysis.model_validate(
    sample_analysis(
        colours=[("#F3EAD7", "cream", 70), ("#C8232D", "red", 22), ("#1E46A0", "blue", 8)],
        personality=["energetic", "confident"],
        confidence=0.9,
    )
)
PALETTE = [c.hex for c in ANALYSIS.visual.dominantColors]
SIZES = [
    ("modern", 1024, 1024),
    ("bold", 1024, 1024),
    ("premium", 1024, 1024),
    ("ad", 1080, 1080),
    ("ad", 1200, 628),
]


def inside(box: tuple[int, int, int, int], width: int, height: int) -> bool:
    return 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height


@pytest.mark.parametrize(("layout", "width", "height"), SIZES)
def test_creatives_show_the_uploaded_product(layout: str, width: int, height: int) -> None:
    product = product_images.prepare_photo(product_photo())
    assert product.cut_out  # the cream backdrop was removed
    words = product_images.creative_words(ANALYSIS, ProductPreferences(), None)
    result = creatives.compose(
        product, layout=layout, width=width, height=height, colours=PALETTE, words=words
    )
    assert result.image.size == (width, height)
    # The product's own marker patch is in the creative, inside the placed photo.
    marker = result.image.crop(result.photo_box)
    assert pixels_near(marker.resize((marker.width // 2, marker.height // 2)), MARKER) > 50
    roles = {t.role for t in result.text_boxes}
    assert {"headline", "label"} <= roles
    assert next(t for t in result.text_boxes if t.role == "label").text == "offline draft"
    for t in result.text_boxes:
        assert inside(t.box, width, height), t
    SAMPLES.mkdir(parents=True, exist_ok=True)
    result.image.save(SAMPLES / f"{layout}-{width}x{height}.png")


def test_a_busy_photo_becomes_a_rounded_card_with_its_pixels() -> None:
    product = product_images.prepare_photo(busy_photo())
    assert not product.cut_out
    words = creatives.Words(headline="Sunny Lamp", subline="Light for long evenings.")
    result = creatives.compose(
        product, layout="ad", width=1080, height=1080, colours=PALETTE, words=words
    )
    assert pixels_near(result.image.crop(result.photo_box), MARKER) > 50
    assert result.image.getpixel(result.photo_box[:2]) != (0, 0, 0)  # a rounded corner
    result.image.save(SAMPLES / "card-ad-1080x1080.png")


LONG = (
    "An extraordinarily long headline that keeps going well past what any canvas could hold"
    " on a single line, Supercalifragilisticexpialidociously so"
)


@pytest.mark.parametrize(("layout", "width", "height"), SIZES)
def test_text_always_fits_the_canvas(layout: str, width: int, height: int) -> None:
    product = product_images.prepare_photo(product_photo("PNG"))
    words = creatives.Words(headline=LONG, subline=LONG + " " + LONG, cta="Shop the collection now")
    result = creatives.compose(
        product, layout=layout, width=width, height=height, colours=PALETTE, words=words
    )
    assert len(result.text_boxes) >= 3
    for t in result.text_boxes:
        assert inside(t.box, width, height), t
        # No box overlaps the label: the label stays readable.
    label = next(t.box for t in result.text_boxes if t.role == "label")
    for t in result.text_boxes:
        if t.role != "label":
            b = t.box
            assert b[2] <= label[0] or b[0] >= label[2] or b[3] <= label[1] or b[1] >= label[3]
    headline = next(t for t in result.text_boxes if t.role == "headline")
    assert headline.text.replace("\n", " ").upper().startswith("AN EXTRAORDINARILY")
    SAMPLES.mkdir(parents=True, exist_ok=True)
    result.image.save(SAMPLES / f"long-text-{layout}-{width}x{height}.png")


def test_text_that_no_font_can_draw_uses_the_fallback() -> None:
    canvas = Image.new("RGB", (400, 200), "white")
    draw = ImageDraw.Draw(canvas)
    box = creatives.draw_text(
        draw,
        "headline",
        "\U0010fffd\U0010fffd",
        (10, 10, 390, 190),
        face="sans-bold",
        fill=(0, 0, 0),
        max_size=40,
        fallback="Fresh Drink",
    )
    assert box is not None
    assert box.text == "Fresh Drink"


def test_japanese_kits_get_japanese_or_fallback_words() -> None:
    prefs = ProductPreferences(language="ja")
    words = product_images.creative_words(ANALYSIS, prefs, None)
    assert words.headline != words.headline_fallback  # Japanese, with English standing by
    assert words.headline_fallback == "Modern Energetic Canned Drink"
    result = creatives.compose(
        product_images.prepare_photo(product_photo()),
        layout="ad",
        width=1200,
        height=628,
        colours=PALETTE,
        words=words,
    )
    headline = next(t for t in result.text_boxes if t.role == "headline")
    if creatives.font_for(words.headline, "sans-bold") is False:
        assert headline.text.replace("\n", " ") == "Modern Energetic Canned Drink"
    else:
        assert headline.text.replace("\n", "") == words.headline


def test_stored_copy_wins_over_the_analysis_headline() -> None:
    content = {
        "adCopy": {"googleAdsHeadline": "Written Headline"},
        "ecDescription": {"short": "[Offline draft] Written short text."},
    }
    words = product_images.creative_words(ANALYSIS, ProductPreferences(), content)
    assert (words.headline, words.subline) == ("Written Headline", "Written short text.")
    assert product_images.layout_of("bold-v2", "packages") == "bold"
    assert product_images.layout_of("google-1200x628", "ads") == "ad"


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1200, 628)])
def test_thumbnails_are_webp_of_the_right_size(width: int, height: int) -> None:
    product = product_images.prepare_photo(product_photo())
    words = product_images.creative_words(ANALYSIS, ProductPreferences(), None)
    png = product_images.compose_png(product, "ad", width, height, PALETTE, words)
    with Image.open(io.BytesIO(png)) as im:
        assert (im.format, im.size) == ("PNG", (width, height))
    thumb = product_images.thumbnail(png)
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.format == "WEBP"
        assert max(im.size) == THUMBNAIL_SIDE
        assert abs(im.size[0] / im.size[1] - width / height) < 0.02
