"""A photo's dominant colours, as a person would name them (seed 002's ``dominantColors``).

Median-cut quantisation finds candidate clusters; clusters closer than ``MERGE_DELTA_E`` in
CIELAB are merged (a JPEG's background comes out of quantisation as several near-identical
creams); each colour reported is a pixel that is really in the photo (the member nearest its
cluster's mean in Lab, never an average that exists nowhere); shares are whole percent that add up
to 100, largest first; 1-6 colours (3-6 whenever the photo has that many distinct colours), each
with a name from a small table.

The background is kept: a product photo's backdrop is part of what the buyer sees and the seed
asks for the dominant colours of the image. Pure Pillow and Python (no numpy).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

RGB = tuple[int, int, int]
Lab = tuple[float, float, float]

SAMPLE_SIDE = 200  # the photo is sampled (nearest neighbour: real pixels only) at this size
CANDIDATES = 16  # median-cut clusters before merging
MERGE_DELTA_E = 12.0  # CIE76 distance under which two colours read as the same
MIN_SHARE = 0.015  # smaller clusters are folded into their nearest kept colour
MAX_COLOURS = 6


def _linear(c: int) -> float:
    v = c / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _f(t: float) -> float:
    return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116


@lru_cache(maxsize=65536)
def rgb_to_lab(rgb: RGB) -> Lab:
    """sRGB (D65) -> CIELAB."""
    r, g, b = (_linear(c) for c in rgb)
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883
    fx, fy, fz = _f(x), _f(y), _f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e(a: Lab, b: Lab) -> float:
    """CIE76 colour difference (about 2.3 is just noticeable; above 10 clearly different)."""
    return float(sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5)


def hex_of(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def rgb_of(value: str) -> RGB | None:
    v = value.lstrip("#")
    if len(v) != 6:
        return None
    try:
        return (int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16))
    except ValueError:
        return None


# A small table of names a marketer would use; the nearest in Lab wins.
NAMED: dict[str, RGB] = {
    "black": (10, 10, 10), "charcoal": (54, 57, 62), "grey": (128, 128, 128),
    "light-grey": (200, 200, 200), "silver": (192, 192, 196), "white": (252, 252, 252),
    "off-white": (242, 240, 232), "cream": (242, 232, 208), "ivory": (255, 250, 235),
    "beige": (225, 205, 170), "sand": (210, 185, 140), "tan": (200, 160, 110),
    "brown": (120, 75, 40), "chocolate": (80, 45, 25), "maroon": (110, 20, 30),
    "burgundy": (130, 25, 50), "red": (200, 30, 40), "crimson": (220, 20, 60),
    "coral-orange": (255, 107, 53), "coral": (250, 128, 114), "orange": (245, 140, 30),
    "amber": (255, 190, 0), "gold": (212, 175, 55), "mustard": (215, 170, 40),
    "yellow": (240, 210, 40), "lemon": (250, 240, 120), "olive": (128, 128, 0),
    "lime": (170, 210, 50), "green": (40, 160, 70), "forest-green": (30, 90, 45),
    "sage": (160, 180, 140), "mint": (170, 230, 200), "teal": (0, 128, 128),
    "turquoise": (60, 200, 200), "sky-blue": (100, 180, 230), "light-blue": (175, 210, 240),
    "blue": (40, 90, 200), "royal-blue": (50, 80, 220), "deep-blue": (0, 60, 130),
    "navy": (20, 30, 70), "indigo": (75, 0, 130), "purple": (120, 60, 160),
    "lavender": (190, 170, 225), "magenta": (200, 40, 160), "pink": (240, 130, 180),
    "blush": (240, 200, 200), "rose": (220, 90, 120),
}  # fmt: skip
_NAMED_LAB = {name: rgb_to_lab(rgb) for name, rgb in NAMED.items()}


def colour_name(rgb: RGB) -> str:
    lab = rgb_to_lab(rgb)
    return min(_NAMED_LAB, key=lambda n: delta_e(_NAMED_LAB[n], lab))


@dataclass(frozen=True)
class PaletteColour:
    rgb: RGB
    name: str
    percentage: int

    @property
    def hex(self) -> str:
        return hex_of(self.rgb)


class _Group:
    """A cluster: its member colours with pixel counts, and a representative member."""

    def __init__(self, members: Counter[RGB]) -> None:
        self.members = members
        self.count = sum(members.values())
        self.rgb, self.lab = self._representative()

    def _representative(self) -> tuple[RGB, Lab]:
        labs = {c: rgb_to_lab(c) for c in self.members}
        total = self.count or 1
        m = [sum(labs[c][i] * n for c, n in self.members.items()) / total for i in range(3)]
        mean: Lab = (m[0], m[1], m[2])
        best = min(self.members, key=lambda c: (delta_e(labs[c], mean), -self.members[c], c))
        return best, labs[best]

    def merged(self, other: _Group) -> _Group:
        return _Group(self.members + other.members)


def _shares(counts: list[int]) -> list[int]:
    """Whole percent that add up to exactly 100 (largest remainder)."""
    total = sum(counts) or 1
    raw = [100 * c / total for c in counts]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], -counts[i]))
    for i in order[: 100 - sum(out)]:
        out[i] += 1
    return out


def sample(image: Image.Image, side: int = SAMPLE_SIDE) -> Image.Image:
    """An RGB copy of at most ``side`` px a side made of the photo's own pixels (nearest
    neighbour, so no blended colour that the photo does not contain)."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    scale = min(1.0, side / max(rgb.size))
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.NEAREST) if size != rgb.size else rgb.copy()


def dominant_colours(
    image: Image.Image, *, max_colours: int = MAX_COLOURS, merge_delta_e: float = MERGE_DELTA_E
) -> list[PaletteColour]:
    """The photo's perceptually distinct dominant colours, largest share first."""
    small = sample(image)
    quant = small.quantize(colors=CANDIDATES, method=Image.Quantize.MEDIANCUT)
    clusters: dict[int, Counter[RGB]] = {}
    rgb, indices = small.tobytes(), quant.tobytes()
    for n, index in enumerate(indices):
        pixel = (rgb[3 * n], rgb[3 * n + 1], rgb[3 * n + 2])
        clusters.setdefault(index, Counter())[pixel] += 1
    groups = [_Group(m) for m in clusters.values() if m]
    # Merge the closest pair while any two are closer than the threshold.
    while len(groups) > 1:
        pairs = [
            (delta_e(a.lab, b.lab), i, j)
            for i, a in enumerate(groups)
            for j, b in enumerate(groups)
            if i < j
        ]
        distance, i, j = min(pairs)
        if distance >= merge_delta_e:
            break
        merged = groups[i].merged(groups[j])
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [merged]
    groups.sort(key=lambda g: -g.count)
    total = sum(g.count for g in groups) or 1
    kept = [g for g in groups if g.count / total >= MIN_SHARE][:max_colours] or groups[:1]
    # Pixels of the clusters left out count towards the nearest kept colour.
    counts = [g.count for g in kept]
    for g in groups:
        if g not in kept:
            nearest = min(range(len(kept)), key=lambda k: delta_e(kept[k].lab, g.lab))
            counts[nearest] += g.count
    ranked = sorted(zip(kept, counts, strict=True), key=lambda p: -p[1])
    shares = _shares([c for _, c in ranked])
    return [
        PaletteColour(rgb=g.rgb, name=colour_name(g.rgb), percentage=s)
        for (g, _), s in zip(ranked, shares, strict=True)
        if s > 0
    ]
