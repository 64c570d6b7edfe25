"""The README's API section lists exactly the routes the gateway serves, each with its body limit,
so the documentation cannot drift from the code (routes come from the ``api.route`` declarations
and the pages' Starlette routes, limits from ``body_limit`` and the settings' defaults)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route

from leadmagnet.common.settings import Settings
from leadmagnet.gateway.pages import page_routes
from leadmagnet.gateway.routes import api

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\|\s*`(GET|POST|PUT|PATCH|DELETE|OPTIONS) (/[^`\s]*)`\s*\|([^|]*)\|", re.M)
DEFAULTS = {name: f.default for name, f in Settings.model_fields.items()}
# Routes that read a raw (non-JSON) body themselves, with the setting that bounds it.
RAW_BODY_LIMITS = {("POST", "/v1/attachments"): DEFAULTS["chat_attachment_max_bytes"]}
# Page routes with a body: the hosted form's no-JavaScript POST, a kit page's confirm step.
PAGE_BODY_LIMITS = {
    ("POST", "/f/{slug}"): DEFAULTS["max_body_bytes"],
    ("POST", "/j/{job_id}/confirm"): DEFAULTS["max_body_bytes"],
}


def api_section() -> str:
    text = README.read_text()
    start = text.index("## HTTP API (gateway)")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def documented() -> dict[tuple[str, str], str]:
    return {(m, p): limit.strip() for m, p, limit in ROW.findall(api_section())}


def declared() -> dict[tuple[str, str], int | None]:
    """Every (method, path) the gateway answers, with its body limit in bytes (None: no body)."""
    routes: dict[tuple[str, str], int | None] = {}
    for r in api.routes:
        key = (r.method, r.path)
        if key in RAW_BODY_LIMITS:
            routes[key] = RAW_BODY_LIMITS[key]
        elif r.request is not None or r.raw_body_schema is not None:
            routes[key] = r.body_limit or DEFAULTS["max_body_bytes"]
        else:
            routes[key] = None
    for page in page_routes():
        if isinstance(page, Mount):
            routes[("GET", f"{page.path}/{{path}}")] = None
        elif isinstance(page, Route):
            for method in sorted((page.methods or set()) - {"HEAD"}):
                routes[(method, page.path)] = PAGE_BODY_LIMITS.get((method, page.path))
    return routes


def test_every_route_in_the_code_is_in_the_readme_and_nothing_else() -> None:
    code, docs = set(declared()), set(documented())
    assert not code - docs, f"routes missing from README's API section: {sorted(code - docs)}"
    assert not docs - code, f"README documents routes the gateway lacks: {sorted(docs - code)}"


def test_readme_states_each_routes_body_limit() -> None:
    docs = documented()
    wrong = {}
    for key, limit in declared().items():
        cell = docs[key]
        if limit is None:
            if cell != "—":
                wrong[key] = (cell, "— (no body)")
        elif f"{limit:,}" not in cell:
            wrong[key] = (cell, f"{limit:,}")
    assert not wrong, f"README body limits differ from the code: {wrong}"


def test_readme_default_body_limit_matches_the_setting() -> None:
    section = api_section()
    assert f"`MAX_BODY_BYTES` ({DEFAULTS['max_body_bytes']:,} bytes)" in section
