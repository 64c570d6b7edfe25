"""Markdown -> sanitized HTML -> sandboxed template.

Both the LLM's report and the visitor's form answers are hostile input:
- the report is converted with ``markdown`` and then cleaned with nh3 (an allowlist of tags and
  attributes, http/https/mailto links only, ``rel="noopener noreferrer nofollow"``);
- the template renders in jinja2's ``ImmutableSandboxedEnvironment`` with autoescape, so
  submission fields are escaped and template code cannot reach Python internals. Only the
  already-sanitized report is marked safe.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from jinja2 import TemplateError, Undefined
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
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "toc"]


def markdown_to_safe_html(text: str) -> str:
    raw = markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")
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


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, undefined=_SilentUndefined)
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
    except TemplateError as e:
        line = getattr(e, "lineno", None)
        raise PermanentError(
            f"template does not parse{f' (line {line})' if line else ''}: {e.message or e}",
            code="invalid_template",
        ) from None


def render_document(
    template_source: str, report_markdown: str, fields: dict[str, Any], today: date
) -> str:
    """Render the lead magnet: ``{{REPORT_CONTENT}}``, ``{{DATE}}`` and the submission fields
    (top-level, e.g. ``{{ name }}``, and as ``{{ submission.name }}``)."""
    check_template(template_source)
    report_html = Markup(markdown_to_safe_html(report_markdown))  # noqa: S704 - sanitized above
    context: dict[str, Any] = {k: v for k, v in fields.items() if isinstance(k, str)}
    context.update(
        submission=dict(fields),
        REPORT_CONTENT=report_html,
        DATE=today.strftime("%B %-d, %Y"),
        DATE_ISO=today.isoformat(),
    )
    try:
        return _ENV.from_string(template_source).render(context)
    except SecurityError as e:
        raise PermanentError(
            f"template tried an unsafe operation: {e}", code="unsafe_template"
        ) from None
    except TemplateError as e:
        raise PermanentError(f"template failed to render: {e}", code="invalid_template") from None
