from datetime import date

import pytest

from leadmagnet.common.errors import PermanentError
from leadmagnet.common.rendering import (
    check_template,
    markdown_to_safe_html,
    render_document,
    safe_url,
)

TEMPLATE = (
    "<html><body><h1>Hi {{ name }}</h1><p>{{ DATE }}</p>"
    "<main>{{REPORT_CONTENT}}</main><i>{{ submission.company }}</i></body></html>"
)
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '"><script>alert(1)</script>',
]


def test_markdown_becomes_html() -> None:
    html = markdown_to_safe_html("# Plan\n\n* one\n* **two**\n\n[site](https://example.com)")
    assert "<h1" in html
    assert "<li><strong>two</strong></li>" in html
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_the_llm_report_is_removed(payload: str) -> None:
    html = render_document(
        TEMPLATE, f"# Report\n\n{payload}\n\nText [x](javascript:alert(1))", {}, date(2026, 1, 2)
    )
    lowered = html.lower()
    assert "<script" not in lowered
    assert "onerror" not in lowered
    assert "onload" not in lowered
    assert "javascript:" not in lowered
    assert "<iframe" not in lowered
    assert "<style>body{background" not in lowered


@pytest.mark.parametrize("payload", XSS)
def test_xss_in_form_fields_is_escaped(payload: str) -> None:
    html = render_document(TEMPLATE, "report", {"name": payload, "company": payload}, date.today())
    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert "<iframe" not in html
    assert "&lt;" in html or "&#34;" in html or "&quot;" in html


def test_placeholders_are_filled() -> None:
    html = render_document(
        TEMPLATE, "**bold**", {"name": "Ada", "company": "Acme"}, date(2026, 1, 2)
    )
    assert "<h1>Hi Ada</h1>" in html
    assert "January 2, 2026" in html
    assert "<strong>bold</strong>" in html
    assert "<i>Acme</i>" in html


def test_missing_fields_render_empty() -> None:
    assert "<h1>Hi </h1>" in render_document(TEMPLATE, "r", {}, date.today())


@pytest.mark.parametrize(
    ("escape", "code"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe_template"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "unsafe_template"),
        ("{{ lipsum.__globals__['os'].system('id') }}", "unsafe_template"),
        ("{% set x = [] %}{{ x.append(1) }}", "unsafe_template"),  # immutable sandbox
        ("{{ request.application.__self__._get_data_for_json.__globals__ }}", "invalid_template"),
    ],
)
def test_template_code_cannot_reach_python_internals(escape: str, code: str) -> None:
    with pytest.raises(PermanentError) as info:
        render_document(f"<p>{escape}</p>", "r", {}, date.today())
    assert info.value.code == code


def test_template_internals_render_as_nothing() -> None:
    html = render_document("<p>{{ self._TemplateReference__context }}</p>", "r", {}, date.today())
    assert html == "<p></p>"


def test_broken_templates_are_refused_with_their_line() -> None:
    with pytest.raises(PermanentError, match="line 2"):
        check_template("<p>ok</p>\n{% if %}")


def test_safe_url_filter_allows_only_web_links() -> None:
    assert safe_url("https://ok.example/x") == "https://ok.example/x"
    assert safe_url("javascript:alert(1)") == "#"
    assert safe_url(" JaVaScRiPt:alert(1)") == "#"
    assert safe_url("data:text/html,<script>") == "#"
