"""Rendering the pages: one autoescaping Jinja2 environment, the tenant's branding (validated:
it is tenant-supplied), and headers that keep the pages locked down (a strict CSP with a
per-response nonce for the one inline style block; no inline scripts anywhere)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from leadmagnet.common.platform import Platform

from ..headers import content_security_policy

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Branding:
    name: str
    primary: str = "#1d3557"
    background: str = "#f6f4ef"
    logo_url: str | None = None


def branding(name: str, options: dict[str, Any] | None) -> Branding:
    """``workflow.options.branding = {"logo_url", "primary_color", "background_color",
    "name"}``; anything malformed falls back to the defaults rather than reaching the page."""
    raw = (options or {}).get("branding")
    b: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def colour(key: str, default: str) -> str:
        value = b.get(key)
        return value if isinstance(value, str) and _HEX.match(value) else default

    logo = b.get("logo_url")
    if not (isinstance(logo, str) and logo.startswith("https://") and len(logo) <= 2000):
        logo = None
    shown = b.get("name")
    return Branding(
        name=shown if isinstance(shown, str) and 0 < len(shown) <= 100 else name,
        primary=colour("primary_color", Branding.primary),
        background=colour("background_color", Branding.background),
        logo_url=logo,
    )


def render_page(
    template: str, *, status: int = 200, brand: Branding, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _env.get_template(template).render(brand=brand, nonce=nonce, **context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "content-security-policy": content_security_policy(nonce),
            "cache-control": "no-store",
        },
    )


def message_page(
    status: int, heading: str, text: str, brand: Branding | None = None
) -> HTMLResponse:
    return render_page(
        "message.html",
        status=status,
        brand=brand or Branding(name="leadmagnet"),
        heading=heading,
        text=text,
    )


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def tenant_branding(platform: Platform, tenant_id: str, workflow_id: str | None) -> Branding:
    """The page's look: the tenant's name and the workflow's brand options."""
    tenant = await platform.tenants.get(tenant_id)
    workflow = await platform.workflows.get(tenant_id, workflow_id) if workflow_id else None
    return branding(tenant.name if tenant else "leadmagnet", workflow.options if workflow else None)
