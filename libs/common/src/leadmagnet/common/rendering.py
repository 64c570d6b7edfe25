"""Markdown -> sanitized HTML -> sandboxed template.

Both the LLM's report and the visitor's form answers are hostile input:
- the report is converted with ``markdown`` and then cleaned with nh3 (an allowlist of tags and
  attributes, http/https/mailto links only, ``rel="noopener noreferrer nofollow"``);
- the template renders in jinja2's ``ImmutableSandboxedEnvironment`` with autoescape, so
  submission fields are escaped and template code cannot reach Python internals. Only the
  already-sanitized report is marked safe.

A template is tenant code running in a shared worker, so its cost is bounded too: the output is
streamed and capped (``max_output_bytes``), sequence repetition and integer powers are refused
past a size, and deep recursion fails the job. CPU time and memory are bounded one level up, by
the renderer's process pool (``leadmagnet.renderer.pool``), which runs this module in worker
processes it kills when a render overruns. Everything expensive to build (the markdown converter,
compiled templates) is built once per process.
"""

from __future__ import annotations

import functools
import operator
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from jinja2 import Template, TemplateError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from leadmagnet.common.errors import PermanentError

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_TEMPLATE_BYTES = 512 * 1024
MAX_REPORT_BYTES = 1024 * 1024  # an LLM report is a few KB; anything near this is not a report
MAX_SEQUENCE_ITEMS = 1_000_000  # 'x' * n, [..] * n: characters/items one expression may build
MAX_POWER_BITS = 1_000_000  # 10 ** n: the size of the integer one expression may build
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "toc"]


class RenderLimitError(PermanentError):
    """A template or report went past a bound: the job fails with this clear reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="render_limit")


@functools.lru_cache(maxsize=1)
def _markdown() -> markdown.Markdown:
    # Building a converter loads its extensions: once per process, reset between documents.
    # Not thread-safe; renders run one at a time per process (see leadmagnet.renderer.pool).
    return markdown.Markdown(extensions=MARKDOWN_EXTENSIONS, output_format="html")


def markdown_to_safe_html(text: str) -> str:
    if len(text) > MAX_REPORT_BYTES:
        raise RenderLimitError(f"the report exceeds {MAX_REPORT_BYTES // 1024} KB")
    try:
        raw = _markdown().reset().convert(text)
    except RecursionError:
        raise RenderLimitError("the report is nested too deeply to render") from None
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def safe_url(value: Any) -> str:
    """Jinja filter for putting a visitor-supplied URL in an href: http(s)/mailto or '#'."""
    text = str(value or "").strip()
    scheme = urlsplit(text).scheme.lower()
    return text if scheme in URL_SCHEMES else "#"


class _SilentUndefined(Undefined):
    """A field the visitor left out renders as nothing (the default), never as an error."""


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus refusing expressions that would build huge values at once
    (jinja caps ``range`` only): ``'x' * 10**9`` fails here, immediately and clearly."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                size = _size(seq)
                if (
                    size is not None
                    and isinstance(times, int)
                    and size * times > MAX_SEQUENCE_ITEMS
                ):
                    raise RenderLimitError(
                        f"template expression would build {size * times} items"
                        f" (limit {MAX_SEQUENCE_ITEMS})"
                    )
            return operator.mul(left, right)
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and max(left.bit_length(), 1) * right > MAX_POWER_BITS
        ):
            raise RenderLimitError(
                f"template expression would build an integer over {MAX_POWER_BITS} bits"
            )
        return operator.pow(left, right)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(autoescape=True, undefined=_SilentUndefined)
    env.filters["safe_url"] = safe_url
    return env


_ENV = _environment()


def check_template(source: str) -> None:
    """Parse a template at upload time so a broken one is refused with its line number."""
    if len(source.encode()) > MAX_TEMPLATE_BYTES:
        raise PermanentError(
            f"template is larger than {MAX_TEMPLATE_BYTES} bytes", code="template_too_large"
        )
    try:
        _ENV.parse(source)
    except RecursionError:
        raise PermanentError("template is nested too deeply", code="invalid_template") from None
    except TemplateError as e:
        line = getattr(e, "lineno", None)
        raise PermanentError(
            f"template does not parse{f' (line {line})' if line else ''}: {e.message or e}",
            code="invalid_template",
        ) from None


@functools.lru_cache(maxsize=32)
def compiled_template(source: str) -> Template:
    """Checked and compiled once per process per template body (content-addressed, so a new
    template version is a new entry and a republished one never serves stale code)."""
    check_template(source)
    try:
        return _ENV.from_string(source)
    except RecursionError:
        raise PermanentError("template is nested too deeply", code="invalid_template") from None


def render_document(
    template_source: str,
    report_markdown: str,
    fields: dict[str, Any],
    today: date,
    *,
    max_output_bytes: int | None = None,
) -> str:
    """Render the lead magnet: ``{{REPORT_CONTENT}}``, ``{{DATE}}`` and the submission fields
    (top-level, e.g. ``{{ name }}``, and as ``{{ submission.name }}``).

    The output is streamed and counted (UTF-8 bytes): past ``max_output_bytes`` rendering stops
    with RenderLimitError instead of building the whole page first."""
    template = compiled_template(template_source)
    report_html = Markup(markdown_to_safe_html(report_markdown))  # noqa: S704 - sanitized above
    context: dict[str, Any] = {k: v for k, v in fields.items() if isinstance(k, str)}
    context.update(
        submission=dict(fields),
        REPORT_CONTENT=report_html,
        DATE=today.strftime("%B %-d, %Y"),
        DATE_ISO=today.isoformat(),
    )
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk.encode("utf-8", errors="replace"))
            if max_output_bytes is not None and size > max_output_bytes:
                raise RenderLimitError(f"rendered page exceeds {_megabytes(max_output_bytes)}")
            chunks.append(chunk)
    except SecurityError as e:
        raise PermanentError(
            f"template tried an unsafe operation: {e}", code="unsafe_template"
        ) from None
    except RecursionError:
        raise RenderLimitError("template recursion is too deep") from None
    except TemplateError as e:
        raise PermanentError(f"template failed to render: {e}", code="invalid_template") from None
    return "".join(chunks)


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n} bytes"
