"""Offline kit creatives (seed 002's package designs and ad creatives) composed with Pillow from
the uploaded product photo: the product cut out (a near-uniform background removed by a flood fill
from the corners) or kept as a rounded card with a shadow, on a canvas in the analysis colours, with
the headline and a short line from the copy, in a layout per style and size. Text is measured with
``ImageDraw.textbbox`` and shrunk, wrapped or (last resort) shortened with an ellipsis: it never
leaves its box. A small "offline draft" label says what this is.

Fonts: DejaVu when installed (Debian's ``fonts-dejavu-core``), a CJK font when one is (Noto CJK,
IPA...), else Pillow's scalable built-in font (Pillow >= 10.1): no network, no required system font.
Text that no available font can draw is replaced by the caller's fallback (e.g. the English
headline for a Japanese kit on a machine without a CJK font) rather than drawn as empty boxes.

Everything here is CPU-bound: call it in a thread.
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from .palette import RGB, delta_e, rgb_of, rgb_to_lab

Box = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont

WORK_SIDE = 1024  # the photo is prepared at most this size
MASK_SIDE = 256  # the cut-out's flood fill runs at this size
CORNER_DELTA_E = 12.0  # corners this close read as one background colour
BACKGROUND_TOLERANCE = 30  # per channel, from the background colour
LABEL = "offline draft"
LAYOUTS = ("modern", "bold", "premium", "ad")

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansJP-Bold.ttf",
)
FACES = {
    "sans-bold": "DejaVuSans-Bold.ttf",
    "sans": "DejaVuSans.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
}


# ---- fonts --------------------------------------------------------------------------------


def _face_path(face: str) -> str | None:
    for folder in _FONT_DIRS:
        path = Path(folder) / FACES.get(face, FACES["sans"])
        if path.is_file():
            return str(path)
    return None


def _candidates(face: str) -> list[str | None]:
    """Font files to try for a face, best first; None is Pillow's built-in font."""
    out: list[str | None] = []
    if (path := _face_path(face)) is not None:
        out.append(path)
    out += [p for p in _CJK_FONTS if Path(p).is_file()]
    out.append(None)
    return out


@lru_cache(maxsize=256)
def load_font(path: str | None, size: int) -> Font:
    if path is None:
        font = ImageFont.load_default(size=size)  # scalable (FreeType) since Pillow 10.1
        assert isinstance(font, ImageFont.FreeTypeFont)
        return font
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def _missing_glyph(path: str | None) -> bytes:
    return bytes(load_font(path, 24).getmask("\U0010fffd"))


@lru_cache(maxsize=1024)
def _covers(path: str | None, char: str) -> bool:
    if char.isspace():
        return True
    return bytes(load_font(path, 24).getmask(char)) != _missing_glyph(path)


def font_for(text: str, face: str) -> str | bool | None:
    """The first font file (None: the built-in font) that has a glyph for every character of
    ``text``; False when none has."""
    for path in _candidates(face):
        if all(_covers(path, ch) for ch in set(text)):
            return path
    return False


# ---- colour helpers -----------------------------------------------------------------------


def luminance(rgb: RGB) -> float:
    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def chroma(rgb: RGB) -> float:
    _, a, b = rgb_to_lab(rgb)
    return float((a * a + b * b) ** 0.5)


INK, PAPER = (24, 26, 32), (252, 251, 248)


def readable_on(background: RGB, preferred: Sequence[RGB] = ()) -> RGB:
    """A text colour with at least 4.5:1 contrast on the background (WCAG AA)."""
    for c in preferred:
        if contrast(c, background) >= 4.5:
            return c
    return INK if contrast(INK, background) >= contrast(PAPER, background) else PAPER


@dataclass(frozen=True)
class Scheme:
    """The analysis colours in roles."""

    light: RGB
    dark: RGB
    accent: RGB
    second: RGB

    @classmethod
    def from_hex(cls, colours: Sequence[str]) -> Scheme:
        rgbs = [c for c in (rgb_of(h) for h in colours) if c is not None] or [(29, 53, 87)]
        light = max(rgbs, key=luminance)
        dark = min(rgbs, key=luminance)
        accent = max(rgbs, key=chroma)
        if chroma(accent) < 12:  # a grey photo: a calm blue-grey accent from its darkest colour
            accent = mix(dark, (40, 70, 120), 0.6)
        others = [c for c in rgbs if delta_e(rgb_to_lab(c), rgb_to_lab(accent)) > 15]
        second = max(others, key=chroma) if others else mix(accent, INK, 0.45)
        return cls(light=light, dark=dark, accent=accent, second=second)


# ---- the product photo --------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """The photo ready to place: RGBA, cropped to the product when it was cut out."""

    image: Image.Image
    cut_out: bool
    background: RGB
    main: RGB = (128, 128, 128)  # the product's own dominant colour


def _main_colour(item: Image.Image) -> RGB:
    """The most common colour of the opaque pixels (coarsely quantised)."""
    small = item.copy()
    small.thumbnail((64, 64), Image.Resampling.BILINEAR)
    counts: dict[RGB, int] = {}
    data = small.tobytes()  # RGBA
    for i in range(0, len(data), 4):
        r, g, b, a = data[i], data[i + 1], data[i + 2], data[i + 3]
        if a > 160:
            key = (r // 24 * 24 + 12, g // 24 * 24 + 12, b // 24 * 24 + 12)
            counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else (128, 128, 128)


def _corner_colours(im: Image.Image) -> list[RGB]:
    w, h = im.size
    k = max(2, min(w, h) // 40)
    out = []
    for x, y in ((0, 0), (w - k, 0), (0, h - k), (w - k, h - k)):
        patch = im.crop((x, y, x + k, y + k)).resize((1, 1), Image.Resampling.BOX)
        px = patch.getpixel((0, 0))
        assert isinstance(px, tuple)
        out.append((int(px[0]), int(px[1]), int(px[2])))
    return out


def _rounded_card(photo: Image.Image) -> Image.Image:
    card = photo.convert("RGBA")
    radius = max(8, min(card.size) // 18)
    mask = Image.new("L", card.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, card.width - 1, card.height - 1), radius, 255)
    card.putalpha(mask)
    return card


def prepare_product(photo: Image.Image) -> Product:
    """Cut the product out of a near-uniform background (flood fill from the corners with a
    tolerance), else keep the whole photo as a rounded card."""
    work = photo.convert("RGB")
    work.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    corners = _corner_colours(work)
    labs = [rgb_to_lab(c) for c in corners]
    background = sorted(corners, key=luminance)[len(corners) // 2]
    uniform = max(delta_e(a, b) for a in labs for b in labs) < CORNER_DELTA_E
    if uniform:
        small = work.copy()
        small.thumbnail((MASK_SIDE, MASK_SIDE), Image.Resampling.BILINEAR)
        diff = ImageChops.difference(small, Image.new("RGB", small.size, background))
        r, g, b = diff.split()
        near = ImageChops.lighter(ImageChops.lighter(r, g), b).point(
            lambda v: 255 if v <= BACKGROUND_TOLERANCE else 0
        )
        for xy in (
            (0, 0),
            (near.width - 1, 0),
            (0, near.height - 1),
            (near.width - 1, near.height - 1),
        ):
            if near.getpixel(xy) == 255:
                ImageDraw.floodfill(near, xy, 128)
        fg = near.point(lambda v: 0 if v == 128 else 255)
        share = 1 - (fg.histogram()[255] / (fg.width * fg.height))
        fg = fg.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.MinFilter(3))
        box = fg.getbbox()
        if box and 0.10 <= share <= 0.92:
            # Eroded a little before feathering: no halo of the old background.
            mask = (
                fg.resize(work.size, Image.Resampling.BILINEAR)
                .filter(ImageFilter.MinFilter(5))
                .filter(ImageFilter.GaussianBlur(max(1.0, work.width / 700)))
            )
            scale = work.width / fg.width
            pad = 2
            crop = (
                max(0, int(box[0] * scale) - pad),
                max(0, int(box[1] * scale) - pad),
                min(work.width, int(box[2] * scale) + pad),
                min(work.height, int(box[3] * scale) + pad),
            )
            product = work.convert("RGBA")
            product.putalpha(mask)
            item = product.crop(crop)
            return Product(item, True, background, _main_colour(item))
    card = _rounded_card(work)
    return Product(card, False, background, _main_colour(card))


def complement(rgb: RGB) -> RGB:
    """The opposite hue, at a saturation and brightness that make a good backdrop."""
    h, _, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + 0.5) % 1.0, 0.55, 0.62)
    return (round(r * 255), round(g * 255), round(b * 255))


def backdrop(product: Product, *options: RGB) -> RGB:
    """Of the options (best first), the first that stands apart from the product's own colour,
    else the one that stands apart most."""
    main = rgb_to_lab(product.main)
    for c in options:
        if delta_e(rgb_to_lab(c), main) >= 30:
            return c
    return max(options, key=lambda c: delta_e(rgb_to_lab(c), main))


# ---- text ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextBox:
    """A drawn text and the bounding box of its ink (textbbox), in canvas pixels."""

    role: str
    text: str
    box: Box


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    spaced = " " in text.strip()
    tokens = text.split() if spaced else list(text)
    sep = " " if spaced else ""
    lines: list[str] = []
    line = ""
    for token in tokens:
        candidate = f"{line}{sep}{token}" if line else token
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = token
        while draw.textlength(line, font=font) > width and len(line) > 1:  # one long word
            cut = len(line)
            while cut > 1 and draw.textlength(line[:cut], font=font) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def _ellipsis(draw: ImageDraw.ImageDraw, line: str, font: Font, width: int) -> str:
    while line and draw.textlength(line + "…", font=font) > width:
        line = line[:-1].rstrip()
    return line + "…"


def draw_text(
    draw: ImageDraw.ImageDraw,
    role: str,
    text: str,
    box: Box,
    *,
    face: str,
    fill: RGB | tuple[int, int, int, int],
    max_size: int,
    min_size: int | None = None,
    max_lines: int = 2,
    align: str = "left",
    valign: str = "top",
    fallback: str | None = None,
) -> TextBox | None:
    """Draw ``text`` inside ``box``: the largest size from ``max_size`` down to ``min_size``
    (default 40 %) whose wrapped lines fit (width, height, ``max_lines``), else the smallest with
    the last line ellipsised. Returns the text drawn and its ink's bounding box (textbbox)."""
    path = font_for(text, face)
    if path is False and fallback is not None:
        text, path = fallback, font_for(fallback, face)
    if path is False or not text.strip():
        return None
    assert path is not True
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    # Shrink down to a still readable size, then wrap, then (last resort) ellipsise.
    min_size = min_size or min(max_size, max(12, round(max_size * 0.4)))
    size = max_size
    while True:
        font = load_font(path, size)
        ascent, descent = font.getmetrics()
        line_h, gap = ascent + descent, round(size * 0.12)
        lines = _wrap(draw, text, font, width)
        total = line_h * len(lines) + gap * (len(lines) - 1)
        if (len(lines) <= max_lines and total <= height) or size <= min_size:
            break
        size = max(min_size, int(size * 0.92))
    if len(lines) > max_lines or total > height:
        keep = max(1, min(max_lines, len(lines), (height + gap) // (line_h + gap)))
        lines = [*lines[: keep - 1], _ellipsis(draw, lines[keep - 1], font, width)]
    total = line_h * len(lines) + gap * (len(lines) - 1)
    y = y0 + {"top": 0, "middle": (height - total) // 2, "bottom": height - total}[valign]
    ink: list[Box] = []
    for ln in lines:
        w = draw.textlength(ln, font=font)
        x = x0 + {"left": 0, "center": (width - w) / 2, "right": width - w}[align]
        x = max(x0, x)
        # Keep the ink inside the box even where a glyph overhangs its advance.
        bb = draw.textbbox((x, y), ln, font=font)
        dx = max(0, x0 - bb[0]) - max(0, bb[2] - x1)
        dy = max(0, y0 - bb[1]) - max(0, bb[3] - y1)
        draw.text((x + dx, y + dy), ln, font=font, fill=fill)
        bb = draw.textbbox((x + dx, y + dy), ln, font=font)
        ink.append((math.floor(bb[0]), math.floor(bb[1]), math.ceil(bb[2]), math.ceil(bb[3])))
        y += line_h + gap
    union = (
        min(b[0] for b in ink),
        min(b[1] for b in ink),
        max(b[2] for b in ink),
        max(b[3] for b in ink),
    )
    return TextBox(role, "\n".join(lines), union)


# ---- composition --------------------------------------------------------------------------


@dataclass
class Composition:
    image: Image.Image
    text_boxes: list[TextBox] = field(default_factory=list)
    photo_box: Box = (0, 0, 0, 0)


@dataclass(frozen=True)
class Words:
    """What the creative says; ``*_fallback`` replaces text no installed font can draw."""

    headline: str
    subline: str = ""
    cta: str = "Shop now"
    badge: str = "NEW"
    headline_fallback: str | None = None
    subline_fallback: str | None = None
    cta_fallback: str = "Shop now"
    badge_fallback: str = "NEW"


def _place(canvas: Image.Image, product: Product, region: Box, shadow: float = 0.32) -> Box:
    """Scale the product into ``region`` (kept whole, centred low), with a soft drop shadow."""
    x0, y0, x1, y1 = region
    item = product.image
    scale = min((x1 - x0) / item.width, (y1 - y0) / item.height)
    size = (max(1, round(item.width * scale)), max(1, round(item.height * scale)))
    item = item.resize(size, Image.Resampling.LANCZOS)
    x = x0 + ((x1 - x0) - size[0]) // 2
    y = y0 + ((y1 - y0) - size[1]) // 2
    side = min(canvas.size)
    blur = max(4, side // 45)
    offset = max(3, side // 60)
    alpha = item.getchannel("A").point(lambda v: int(v * shadow))
    shade = Image.new("RGBA", (size[0] + 4 * blur, size[1] + 4 * blur), (0, 0, 0, 0))
    shade.paste((0, 0, 0, 255), (2 * blur, 2 * blur), alpha)
    shade = shade.filter(ImageFilter.GaussianBlur(blur))
    canvas.alpha_composite(shade, (x - 2 * blur, y - 2 * blur + offset))
    canvas.alpha_composite(item, (x, y))
    return (x, y, x + size[0], y + size[1])


def _label(canvas: Image.Image, draw: ImageDraw.ImageDraw, margin: float = 0.025) -> TextBox | None:
    """The small "offline draft" pill in the top right corner."""
    w, h = canvas.size
    side = min(w, h)
    size = max(12, side // 48)
    font = load_font(_face_path("sans") or None, size)
    pad = max(4, size // 2)
    tw = draw.textlength(LABEL, font=font)
    box = (int(w - side * margin - tw - 2 * pad), int(side * margin))
    pill = (box[0], box[1], int(box[0] + tw + 2 * pad), int(box[1] + size + 1.3 * pad))
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rounded_rectangle(pill, (pill[3] - pill[1]) // 2, (20, 20, 24, 120))
    canvas.alpha_composite(overlay)
    return draw_text(
        draw,
        "label",
        LABEL,
        (pill[0] + pad, pill[1] + 1, pill[2] - pad + 2, pill[3] - 1),
        face="sans",
        fill=(255, 255, 255, 230),
        max_size=size,
        min_size=10,
        max_lines=1,
        align="center",
        valign="middle",
    )


def _frac(w: int, h: int, *fr: float) -> Box:
    a, b, c, d = fr
    return (round(w * a), round(h * b), round(w * c), round(h * d))


def _glow(
    canvas: Image.Image, centre: tuple[int, int], radius: int, colour: RGB, alpha: int
) -> None:
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    cx, cy = centre
    ImageDraw.Draw(layer).ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), (*colour, alpha)
    )
    canvas.alpha_composite(layer.filter(ImageFilter.GaussianBlur(radius // 4)))


class _Layout:
    """One creative being drawn: the canvas in the background colour and the steps every layout
    composes (shapes, a glow, the product, text blocks fitted to boxes, a call-to-action pill)."""

    def __init__(self, product: Product, s: Scheme, words: Words, w: int, h: int, bg: RGB) -> None:
        self.product, self.s, self.words = product, s, words
        self.w, self.h, self.side = w, h, min(w, h)
        self.bg = bg
        self.canvas = Image.new("RGBA", (w, h), (*bg, 255))
        self.draw = ImageDraw.Draw(self.canvas)
        self.texts: list[TextBox | None] = []
        self.photo: Box = (0, 0, 0, 0)

    def frac(self, *fr: float) -> Box:
        return _frac(self.w, self.h, *fr)

    def glow(self, cy: float, radius: float, colour: RGB, alpha: int) -> None:
        """A soft light behind the product, centred across: its height and radius as fractions
        (of the height and of the shorter side)."""
        centre = (self.w // 2, round(self.h * cy))
        _glow(self.canvas, centre, round(self.side * radius), colour, alpha)

    def place(self, *fr: float, shadow: float) -> None:
        self.photo = _place(self.canvas, self.product, self.frac(*fr), shadow=shadow)

    def say(
        self,
        role: str,
        box: Box,
        *,
        face: str,
        fill: RGB | tuple[int, int, int, int],
        max_size: int,
        max_lines: int,
        upper: bool = False,
        align: str = "left",
        valign: str = "top",
    ) -> None:
        """The words' ``role`` (headline, subline, cta, badge) fitted into ``box``, with its
        fallback for text no installed font can draw."""
        text: str = getattr(self.words, role)
        fallback: str | None = getattr(self.words, f"{role}_fallback")
        if upper:
            text, fallback = text.upper(), (fallback or "").upper() or None
        self.texts.append(
            draw_text(
                self.draw,
                role,
                text,
                box,
                face=face,
                fill=fill,
                max_size=max_size,
                max_lines=max_lines,
                align=align,
                valign=valign,
                fallback=fallback,
            )
        )

    def button(self, box: Box, colour: RGB, ink: RGB, max_size: int) -> None:
        """The call to action on a pill."""
        self.draw.rounded_rectangle(box, (box[3] - box[1]) // 2, fill=(*colour, 255))
        inner = (box[0] + 12, box[1] + 6, box[2] - 12, box[3] - 6)
        self.say(
            "cta",
            inner,
            face="sans-bold",
            fill=ink,
            max_size=max_size,
            max_lines=1,
            align="center",
            valign="middle",
        )

    def finish(self, label_margin: float) -> Composition:
        self.texts.append(_label(self.canvas, ImageDraw.Draw(self.canvas), label_margin))
        texts = [t for t in self.texts if t is not None]
        return Composition(self.canvas.convert("RGB"), texts, self.photo)


def _bold(product: Product, s: Scheme, words: Words, w: int, h: int) -> Composition:
    bg = backdrop(product, s.accent, s.second, s.dark, complement(product.main))
    band = backdrop(product, *(c for c in (s.second, s.accent) if c != bg), mix(bg, INK, 0.4))
    lay = _Layout(product, s, words, w, h, bg)
    d, side = lay.draw, lay.side
    d.polygon([(0, h * 0.62), (w, h * 0.38), (w, h), (0, h)], fill=(*band, 255))
    d.polygon([(0, h * 0.60), (w, h * 0.36), (w, h * 0.385), (0, h * 0.625)], fill=(*s.light, 255))
    ink = readable_on(bg, (s.light, s.dark))
    lay.say(
        "headline",
        lay.frac(0.07, 0.1, 0.93, 0.3),
        face="sans-bold",
        fill=ink,
        max_size=side // 9,
        max_lines=3,
        upper=True,
        align="center",
        valign="middle",
    )
    lay.place(0.12, 0.33, 0.88, 0.93, shadow=0.45)
    r = side // 10
    cx, cy = round(w * 0.82), round(h * 0.78)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*s.light, 255), outline=(*ink, 255), width=3)
    badge = (cx - r * 7 // 10, cy - r // 2, cx + r * 7 // 10, cy + r // 2)
    lay.say(
        "badge",
        badge,
        face="sans-bold",
        fill=readable_on(s.light, (s.dark, s.accent)),
        max_size=r // 2,
        max_lines=2,
        align="center",
        valign="middle",
    )
    return lay.finish(0.025)


def _premium(product: Product, s: Scheme, words: Words, w: int, h: int) -> Composition:
    bg = mix(s.dark, (8, 8, 12), 0.55) if luminance(s.dark) > 0.02 else s.dark
    if luminance(bg) > 0.05:
        bg = mix(bg, (10, 10, 14), 0.6)
    lay = _Layout(product, s, words, w, h, bg)
    d, side = lay.draw, lay.side
    gold = mix(s.light, (212, 175, 55), 0.55)
    lay.glow(0.4, 0.34, s.light, 70)
    inset = round(side * 0.04)
    d.rectangle(
        (inset, inset, w - inset, h - inset), outline=(*gold, 255), width=max(2, side // 400)
    )
    lay.place(0.2, 0.11, 0.8, 0.68, shadow=0.5)
    ink = readable_on(bg, (mix(s.light, PAPER, 0.5),))
    lay.say(
        "headline",
        lay.frac(0.1, 0.72, 0.9, 0.84),
        face="serif",
        fill=ink,
        max_size=side // 14,
        max_lines=3,
        align="center",
        valign="middle",
    )
    d.line((w * 0.42, h * 0.865, w * 0.58, h * 0.865), fill=(*gold, 255), width=2)
    lay.say(
        "subline",
        lay.frac(0.14, 0.885, 0.86, 0.935),
        face="serif",
        fill=mix(ink, bg, 0.25),
        max_size=side // 34,
        max_lines=2,
        align="center",
    )
    return lay.finish(0.06)


def _ad_landscape(product: Product, s: Scheme, words: Words, w: int, h: int) -> Composition:
    lay = _Layout(product, s, words, w, h, mix(s.light, PAPER, 0.55))
    main = complement(product.main)
    panel = backdrop(product, s.accent, s.second, s.dark, main, mix(s.light, INK, 0.2))
    lay.draw.rectangle((0, 0, round(w * 0.47), h), fill=(*panel, 255))
    lay.place(0.05, 0.09, 0.5, 0.91, shadow=0.4)
    ink = readable_on(lay.bg, (s.dark,))
    lay.say(
        "headline",
        lay.frac(0.55, 0.16, 0.95, 0.48),
        face="sans-bold",
        fill=ink,
        max_size=h // 8,
        max_lines=3,
        valign="bottom",
    )
    lay.say(
        "subline",
        lay.frac(0.55, 0.52, 0.95, 0.72),
        face="sans",
        fill=mix(ink, lay.bg, 0.2),
        max_size=h // 22,
        max_lines=3,
    )
    lay.button(lay.frac(0.55, 0.77, 0.8, 0.9), s.accent, readable_on(s.accent), h // 20)
    return lay.finish(0.025)


def _ad_square(product: Product, s: Scheme, words: Words, w: int, h: int) -> Composition:
    lay = _Layout(product, s, words, w, h, mix(s.light, PAPER, 0.55))
    side = lay.side
    panel = s.accent if contrast(s.accent, lay.bg) > 1.6 else s.dark
    panel = backdrop(product, panel, s.second, s.dark, complement(product.main))
    lay.draw.rectangle((0, round(h * 0.7), w, h), fill=(*panel, 255))
    lay.glow(0.46, 0.28, s.second, 60)
    ink = readable_on(lay.bg, (s.dark,))
    lay.say(
        "headline",
        lay.frac(0.07, 0.07, 0.93, 0.2),
        face="sans-bold",
        fill=ink,
        max_size=side // 13,
        max_lines=3,
        align="center",
        valign="middle",
    )
    lay.place(0.16, 0.22, 0.84, 0.74, shadow=0.4)
    panel_ink = readable_on(panel, (s.light,))
    lay.say(
        "subline",
        lay.frac(0.07, 0.775, 0.6, 0.95),
        face="sans",
        fill=panel_ink,
        max_size=side // 30,
        max_lines=3,
        valign="middle",
    )
    button_ink = readable_on(panel_ink, (panel,))
    lay.button(lay.frac(0.65, 0.8, 0.93, 0.9), panel_ink, button_ink, side // 30)
    return lay.finish(0.025)


def _modern(product: Product, s: Scheme, words: Words, w: int, h: int) -> Composition:
    lay = _Layout(product, s, words, w, h, mix(s.light, PAPER, 0.7))
    side = lay.side
    lay.glow(0.38, 0.3, s.accent, 45)
    lay.place(0.14, 0.09, 0.86, 0.67, shadow=0.3)
    lay.draw.rectangle(lay.frac(0.08, 0.725, 0.16, 0.733), fill=(*s.accent, 255))
    ink = readable_on(lay.bg, (s.dark,))
    lay.say(
        "headline",
        lay.frac(0.08, 0.755, 0.92, 0.87),
        face="sans-bold",
        fill=ink,
        max_size=side // 13,
        max_lines=3,
        valign="middle",
    )
    lay.say(
        "subline",
        lay.frac(0.08, 0.885, 0.92, 0.955),
        face="sans",
        fill=mix(ink, lay.bg, 0.3),
        max_size=side // 36,
        max_lines=2,
    )
    return lay.finish(0.025)


def compose(
    product: Product, *, layout: str, width: int, height: int, colours: Sequence[str], words: Words
) -> Composition:
    """One creative. ``layout``: ``modern``, ``bold``, ``premium`` (package designs) or ``ad``
    (square or landscape by the size)."""
    s = Scheme.from_hex(colours)
    if layout == "bold":
        return _bold(product, s, words, width, height)
    if layout == "premium":
        return _premium(product, s, words, width, height)
    if layout == "ad":
        square = width / height <= 1.3
        return (_ad_square if square else _ad_landscape)(product, s, words, width, height)
    return _modern(product, s, words, width, height)


def to_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)  # optimize=True costs seconds per image
    return buf.getvalue()
