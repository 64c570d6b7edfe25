"""Funnel templates and runs (seed 001): the template body, the image elements of a funnel,
the "same structure" check for the agent's answer, and a run's cost breakdown.

A funnel template is a versioned template of kind ``funnel`` (same store and API as the HTML
templates). A run is a job of kind ``funnel_rewrite``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadmagnet.common.errors import ConflictError, PermanentError
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import RUN_KIND as RUN_KIND  # re-exported: the run flow names it here
from leadmagnet.common.models import (
    DocumentVersion,
    Job,
    LogLevel,
    LogType,
    TimelineEvent,
)
from leadmagnet.common.money import MICROS_PER_USD
from leadmagnet.common.providers.base import CallCost
from leadmagnet.common.stores.jobs import JobChange, Refused, timeline_entry

if TYPE_CHECKING:  # platform.py must not import flow helpers
    from leadmagnet.common.platform import Platform

log = get_logger()

MAX_IMAGE_ELEMENTS = 50
MAX_FUNNEL_JSON_BYTES = 200_000  # a template is one DynamoDB item (400 KB) with its brand guide
MAX_BRAND_GUIDE_CHARS = 100_000

ImageFailurePolicy = Literal["fail", "keep_original"]
Path = tuple[str | int, ...]

_IMAGE_WORDS = frozenset(
    [
        "logo",
        "image",
        "img",
        "photo",
        "picture",
        "pic",
        "icon",
        "banner",
        "hero",
        "background",
        "bg",
        "avatar",
        "thumbnail",
        "thumb",
        "illustration",
        "graphic",
        "favicon",
        "cover",
        "headshot",
    ]
)
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH_TOKEN = re.compile(r'\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


class FunnelSettings(BaseModel):
    """Run settings a template carries in its ``metadata`` (other metadata keys are free)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    image_fields: list[str] | None = Field(
        None,
        alias="imageFields",
        max_length=MAX_IMAGE_ELEMENTS,
        description="Explicit element paths (e.g. 'hero.opt_logo_url'); default: every '*_url' "
        "field whose name or URL says image.",
    )
    on_image_failure: ImageFailurePolicy = Field("fail", alias="onImageFailure")
    image_quality: Literal["standard", "hd"] = Field("standard", alias="imageQuality")
    image_size: Literal["1024x1024", "1536x1024", "1024x1536"] = Field(
        "1024x1024", alias="imageSize"
    )


def camel_settings(metadata: dict[str, Any]) -> dict[str, Any]:
    """A funnel template's metadata with its run settings spelled as the seed does
    (``on_image_failure`` -> ``onImageFailure``), so the template answers in one casing. The
    camelCase spelling wins when both are given, as in ``FunnelSettings``; other keys are free
    and kept as sent."""
    out = dict(metadata)
    for name, info in FunnelSettings.model_fields.items():
        if info.alias and name in out:
            value = out.pop(name)
            out.setdefault(info.alias, value)
    return out


@dataclass(frozen=True)
class RunSpec:
    """Everything a run's stages need, loaded from the job and its pinned template version."""

    template_id: str
    template_version: int
    brand_guide: str
    funnel: dict[str, Any]
    settings: FunnelSettings
    input_text: str


# A template version never changes once written (a change is a new version; versions are never
# deleted), so each process reads a pinned version once: both stages of a run, and every run of
# the same version, share the read. Bounded; the oldest read goes first.
_PINNED_TEMPLATES: dict[tuple[str, str, int], DocumentVersion] = {}
PINNED_TEMPLATES_KEPT = 256


async def pinned_template(
    platform: Platform, tenant_id: str, template_id: str, version: int
) -> DocumentVersion | None:
    key = (tenant_id, template_id, version)
    doc = _PINNED_TEMPLATES.get(key)
    if doc is None:
        doc = await platform.templates.get(tenant_id, template_id, version)
        if doc is None:
            return None
        while len(_PINNED_TEMPLATES) >= PINNED_TEMPLATES_KEPT:
            del _PINNED_TEMPLATES[next(iter(_PINNED_TEMPLATES))]
        _PINNED_TEMPLATES[key] = doc
    return doc


async def load_run_spec(platform: Platform, job: Job) -> RunSpec:
    """The run's pinned template version and effective settings (a permanent error when the
    template version is gone or is not a funnel template)."""
    data = job.run_data()
    template_id, version = data.template_id, data.template_version
    doc = await pinned_template(platform, job.tenant_id, template_id, version)
    if doc is None:
        raise PermanentError(
            f"template {template_id} v{version} no longer exists", code="template_unavailable"
        )
    if doc.body.get("kind") != "funnel":
        raise PermanentError(f"template {template_id} is not a funnel template", code="bad_kind")
    try:
        settings = FunnelSettings.model_validate(data.settings)
    except ValidationError as e:
        raise PermanentError(
            f"invalid run settings: {e.errors()[0]['msg']}", code="bad_run"
        ) from None
    return RunSpec(
        template_id=template_id,
        template_version=version,
        brand_guide=str(doc.body.get("brandGuideContent", "")),
        funnel=dict(doc.body.get("templateFunnelJson") or {}),
        settings=settings,
        input_text=str(data.input.get("input_as_text", "")),
    )


class PendingEntries:
    """Timeline entries a stage's work makes as it goes (each stamped when it happens), written
    together in one UpdateItem — with the work's last change, or on their own if the work stops
    before it — instead of one write each."""

    def __init__(self, platform: Platform, job_id: str, stage: str) -> None:
        self.platform = platform
        self.job_id = job_id
        self.stage = stage
        self.entries: list[dict[str, Any]] = []

    def log(
        self,
        message: str,
        *,
        level: LogLevel = "info",
        log_type: LogType = "event",
        data: dict[str, Any] | None = None,
        event_type: TimelineEvent = TimelineEvent.LOG,
    ) -> None:
        self.entries.append(
            timeline_entry(
                event_type,
                message,
                stage=self.stage,
                data=data,
                level=level,
                log_type=log_type,
            )
        )

    async def write(self, fields: dict[str, Any] | None = None) -> None:
        """The entries in one write; with ``fields`` (e.g. ``data.image_results``) it is
        refused on a finished job, as ``jobs.record`` is (ConflictError), while log lines
        alone are kept after the end too, as ``jobs.log`` keeps them."""
        entries, self.entries = self.entries, []
        if not entries and not fields:
            return
        change = JobChange()
        change.lifecycle(None, allow_terminal=fields is None, stage=self.stage, fields=fields)
        change.entries += entries
        try:
            await self.platform.jobs.write_only(self.job_id, change)
        except Refused:
            raise ConflictError(f"job {self.job_id} is missing or in a final state") from None

    async def write_before_failing(self) -> None:
        """The lines so far, when the work is failing: its own error is what counts (a failed
        write of its log lines is logged, not raised in its place)."""
        try:
            await self.write()
        except Exception as e:
            log.warning("timeline.lines_lost", job_id=self.job_id, error=type(e).__name__)


# ---- paths into the funnel JSON -----------------------------------------------------------


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def parse_path(text: str) -> Path:
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if m is None or (pos == 0 and m.group(0).startswith(".")):
            raise ValueError(f"not a path: {text!r}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(re.sub(r"\\(.)", r"\1", m.group(3)))
        pos = m.end()
    if not parts:
        raise ValueError("empty path")
    return tuple(parts)


def get_path(doc: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(doc, list) or part >= len(doc):
                raise KeyError(format_path(path))
        elif not isinstance(doc, dict) or part not in doc:
            raise KeyError(format_path(path))
        doc = doc[part]
    return doc


def set_path(doc: Any, path: Path, value: Any) -> None:
    parent = get_path(doc, path[:-1])
    parent[path[-1]] = value


# ---- image elements -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageElement:
    element_id: str
    path: Path
    url: str


def _walk(doc: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk(v, (*path, i))
    else:
        yield path, doc


def _looks_like_image(key: str, url: str) -> bool:
    lower = key.lower()
    if not (lower.endswith("_url") or key.endswith("Url") or lower in _IMAGE_WORDS):
        return False
    words = set(re.split(r"[_\-]|(?<=[a-z])(?=[A-Z])", key))
    if {w.lower() for w in words} & _IMAGE_WORDS:
        return True
    return urlsplit(url).path.lower().endswith(_IMAGE_EXTENSIONS)


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


def find_image_elements(funnel: dict[str, Any], settings: FunnelSettings) -> list[ImageElement]:
    """The funnel's image elements, in document order (deterministic: every stage that needs
    them recomputes the same list from the same template version)."""
    if settings.image_fields is not None:
        found = []
        for text in settings.image_fields:
            path = parse_path(text)
            value = get_path(funnel, path)
            if not _is_http_url(value):
                raise ValueError(f"{text} is not an http(s) URL")
            found.append(ImageElement(format_path(path), path, value))
        return found
    return [
        ImageElement(format_path(path), path, value)
        for path, value in _walk(funnel)
        if path
        and isinstance(path[-1], str)
        and _is_http_url(value)
        and _looks_like_image(path[-1], value)
    ]


# ---- the agent's answer -------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# Identifiers are structure, not copy: the agent rewrites text, never what code, styles, links
# and analytics refer to. A value is an identifier when
#   * its key (for a list item: the key of the list) is one of IDENTIFIER_KEYS, or ends in
#     ``_id``/``Id``, ``_ids``/``Ids``, ``_key``/``Key``, ``_slug``/``Slug``, ``_type``/``Type``,
#     ``_kind``/``Kind``, ``_url``/``Url`` or ``_href``/``Href`` (any scalar: a numeric ``id``
#     is as fixed as a string one), or
#   * it is a string that is an absolute URL (``scheme://…``) or a ``mailto:``/``tel:``/``sms:``
#     link, whatever its key.
# It must come back exactly as it went in. Image elements are exempt (their URLs are ours and are
# set after the answer whatever the model wrote). Display names (``name``, ``title``, ``label``),
# words that are as often copy as code (``link``, ``action``, ``target``), the language
# (``lang``, ``locale``: a brief may ask for a translation) and colours are not identifiers: a
# rewrite may change them (a colour must stay a colour code).
IDENTIFIER_KEYS = frozenset(
    {
        "id",
        "ids",
        "key",
        "slug",
        "type",
        "kind",
        "variant",
        "component",
        "layout",
        "template",
        "anchor",
        "ref",
        "uuid",
        "sku",
        "handle",
        "icon",
        "href",
        "src",
        "url",
        "method",
        "rel",
        "class",
        "classname",
    }
)
_IDENTIFIER_SUFFIX = re.compile(
    r"(?:_(?:id|ids|key|slug|type|kind|url|href)"
    r"|(?<=[a-z0-9])(?:Id|Ids|Key|Slug|Type|Kind|Url|URL|Href))$"
)
_LINK_VALUE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|mailto:|tel:|sms:)", re.I)
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def is_colour(value: Any) -> bool:
    return isinstance(value, str) and bool(_COLOUR.match(value))


def _owning_key(path: Path) -> str | None:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return None


def is_identifier_key(key: str) -> bool:
    return key.lower() in IDENTIFIER_KEYS or bool(_IDENTIFIER_SUFFIX.search(key))


def is_identifier(path: Path, value: Any) -> bool:
    """Whether the scalar at ``path`` is an identifier (see the rule above)."""
    if isinstance(value, dict | list):
        return False
    if isinstance(value, str) and _LINK_VALUE.match(value.strip()):
        return True
    key = _owning_key(path)
    return key is not None and is_identifier_key(key)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def structure_mismatch(
    expected: Any,
    actual: Any,
    path: Path = (),
    *,
    exempt: frozenset[Path] = frozenset(),
) -> str | None:
    """None when ``actual`` has the template's structure (same keys, same types, same list
    lengths at every level, identifiers unchanged, colours still colours); otherwise where and
    how it differs. ``exempt``: paths whose value is set afterwards (image elements)."""
    where = format_path(path) or "$"
    if _kind(expected) != _kind(actual):
        return f"{where}: expected {_kind(expected)}, got {_kind(actual)}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{where}: missing key(s) {', '.join(map(repr, missing[:5]))}"
        extra = [k for k in actual if k not in expected]
        if extra:
            return f"{where}: unexpected key(s) {', '.join(map(repr, extra[:5]))}"
        for k in expected:
            problem = structure_mismatch(expected[k], actual[k], (*path, k), exempt=exempt)
            if problem:
                return problem
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{where}: expected {len(expected)} item(s), got {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = structure_mismatch(e, a, (*path, i), exempt=exempt)
            if problem:
                return problem
    elif path not in exempt:
        if is_identifier(path, expected) and actual != expected:
            return (
                f"{where}: identifier changed from {_show(expected)} to {_show(actual)} "
                "(ids, keys, slugs, types and links must stay exactly as they are)"
            )
        if is_colour(expected) and not is_colour(actual):
            return f"{where}: expected a colour code like {expected!r}, got {_show(actual)}"
    return None


# ---- cost -----------------------------------------------------------------------------------


def _usd(micros: int) -> float:
    # Exact to the micro-dollar; a JSON number as in the seed.
    return float(Decimal(micros) / MICROS_PER_USD)


def run_cost_breakdown(calls: list[CallCost]) -> dict[str, Any]:
    """The seed's per-run breakdown, from the recorded calls (failed calls included):
    total = agent + image, computed in integer micro-dollars so it reconciles exactly."""
    agent = [c for c in calls if c.operation in ("text", "vision")]
    images = [c for c in calls if c.operation == "image"]
    agent_micros = sum(c.cost_micros for c in agent)
    image_micros = sum(c.cost_micros for c in images)
    return {
        "total": _usd(agent_micros + image_micros),
        "agent": _usd(agent_micros),
        "image": _usd(image_micros),
        "details": {
            "agent": {
                "calls": len(agent),
                "tokens": {
                    "input": sum(
                        c.usage.input_tokens
                        + c.usage.cached_input_tokens
                        + c.usage.cache_write_tokens
                        for c in agent
                    ),
                    "output": sum(c.usage.output_tokens for c in agent),
                    "reasoning": sum(c.usage.reasoning_tokens for c in agent),
                },
                "cost": _usd(agent_micros),
            },
            "images": {
                "calls": len(images),
                "imagesGenerated": sum(c.usage.images for c in images),
                "cost": _usd(image_micros),
            },
        },
    }
