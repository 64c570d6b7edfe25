"""The pages people see (issue: hosted form, job page, chat widget, admin console).

Server-rendered Jinja2 plus small vanilla scripts, all served by the gateway (no CDN, no build
step). Every page works on top of the same JSON API the integrations use:

- ``GET /f/{slug}``: the hosted form. Without JavaScript it POSTs here (urlencoded) and is
  redirected to the job page; with it, it validates in the browser and submits as JSON.
- ``GET /j/{job_id}``: the job page (the job id is the capability), live through
  ``GET /v1/jobs/{job_id}/events``; ``/j/{job_id}/download`` downloads the result.
- ``GET /chat/demo``: the chat widget demo posting seed-003 triggers to ``POST /v1/leads``.
- ``GET /admin``: a minimal console over the admin API (API-key login, kept in the tab).
- Per kind (``kinds.py``): a product kit's confirm step ``POST /j/{job_id}/confirm`` and its
  ``GET /j/{job_id}/assets.zip``; a funnel run's admin page ``GET /admin/runs/{run_id}``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Form, Job
from leadmagnet.common.stores.jobs import delivers

from ..api import HTTPError, bounded_int, read_body
from ..routes.public import HONEYPOT_FIELD, accept_submission
from . import kinds
from .render import STATIC_DIR, Branding, message_page, platform_of, render_page, tenant_branding

log = get_logger()
MAX_ID = 64
# A form has at most 50 fields (plus the honeypot): a POST with more is not from our page.
MAX_POSTED_FIELDS = 100


def _form_page(
    form: Form,
    brand: Branding,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    labels = {f.name: f.label for f in form.fields}
    return render_page(
        "form.html",
        status=status,
        brand=brand,
        form=form,
        values=values or {},
        errors={name: f"{labels.get(name, name)} {msg}" for name, msg in (errors or {}).items()},
        honeypot=HONEYPOT_FIELD,
    )


async def form_page(request: Request) -> Response:
    platform = platform_of(request)
    form = await platform.forms.get(request.path_params["slug"][:MAX_ID])
    if form is None:
        return message_page(404, "Form not found", "This form does not exist or was removed.")
    return _form_page(form, await tenant_branding(platform, form.tenant_id, form.workflow_id))


async def form_post(request: Request) -> Response:
    """The no-JavaScript path: urlencoded fields -> the same validation and job as the API."""
    platform = platform_of(request)
    form = await platform.forms.get(request.path_params["slug"][:MAX_ID])
    if form is None:
        return message_page(404, "Form not found", "This form does not exist or was removed.")
    brand = await tenant_branding(platform, form.tenant_id, form.workflow_id)
    if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        return message_page(415, "Unsupported form encoding", "Please use the form on this page.")
    try:
        raw = await read_body(request, platform.settings.max_body_bytes)
    except HTTPError as e:
        return message_page(e.status, "The form is too large", e.message, brand)
    try:
        posted = dict(
            parse_qsl(
                raw.decode("utf-8", "replace"),
                keep_blank_values=True,
                max_num_fields=MAX_POSTED_FIELDS,
            )
        )
    except ValueError:  # "Max number of fields exceeded": no form has that many
        return message_page(
            413,
            "The form has too many fields",
            f"A form sends at most {MAX_POSTED_FIELDS} fields. Please use the form on this page.",
            brand,
        )
    if posted.get(HONEYPOT_FIELD):
        # A bot filled the invisible field: no job, and nothing that tells it so.
        log.info("form.honeypot", form=form.slug)
        return message_page(200, "Thank you", "We received your request.", brand)
    known = {f.name for f in form.fields}
    values = {k: v for k, v in posted.items() if k in known}
    try:
        accepted = await accept_submission(platform, form.slug, values)
    except HTTPError as e:
        if e.status == 429:
            return _busy_page(e, brand)
        errors = {
            d.loc.removeprefix("body."): d.message for d in e.details if d.loc.startswith("body.")
        }
        if not errors:
            return message_page(e.status, "We could not take your request", e.message, brand)
        return _form_page(form, brand, values=values, errors=errors, status=422)
    return RedirectResponse(f"/j/{accepted.job_id}", status_code=303)


def _busy_page(error: HTTPError, brand: Branding) -> Response:
    """The form's per-minute budget is spent: a page that says so, with ``Retry-After``."""
    wait = error.headers.get("retry-after", "60")
    page = message_page(
        429,
        "Too many requests right now",
        f"This form is very busy. Please wait about {wait} seconds and send it again.",
        brand,
    )
    page.headers["retry-after"] = wait
    return page


async def _job(request: Request) -> Job | None:
    job_id = request.path_params["job_id"]
    return await platform_of(request).jobs.get(job_id) if len(job_id) <= MAX_ID else None


async def job_page(request: Request) -> Response:
    job = await _job(request)
    if job is None:
        return message_page(404, "Not found", "We cannot find this page. Check the link you used.")
    return await kinds.render_job_page(request, job)


async def job_download(request: Request) -> Response:
    platform = platform_of(request)
    job = await _job(request)
    if job is None or not delivers(job) or not job.output_key:
        return message_page(404, "Not ready", "There is nothing to download yet.")
    filename = job.output_key.rsplit("/", 1)[-1]
    return RedirectResponse(await platform.artifacts.url(job.output_key, filename=filename), 303)


async def chat_demo(request: Request) -> Response:
    platform = platform_of(request)
    slug = request.query_params.get("channel", "demo-chat")[:MAX_ID]
    channel = await platform.leads.channel(slug)
    if channel is None:
        return message_page(404, "Chat not found", f"There is no chat channel {slug!r}.")
    idle_seconds = bounded_int(request.query_params.get("idle", ""), maximum=900) or None
    return render_page(
        "chat.html",
        brand=Branding(name=channel.business_name),
        channel=channel.slug,
        idle_seconds=idle_seconds or platform.settings.lead_idle_delay_seconds,
        thread_id=f"web_{secrets.token_urlsafe(12)}",
    )


async def admin_console(request: Request) -> Response:
    return render_page("admin.html", brand=Branding(name="leadmagnet admin"))


def page_routes() -> list[BaseRoute]:
    return [
        Route("/f/{slug}", form_page, methods=["GET"]),
        Route("/f/{slug}", form_post, methods=["POST"]),
        Route("/j/{job_id}", job_page, methods=["GET"]),
        Route("/j/{job_id}/download", job_download, methods=["GET"]),
        Route("/chat/demo", chat_demo, methods=["GET"]),
        Route("/admin", admin_console, methods=["GET"]),
        # issue 16: job pages per kind (pages/kinds.py)
        Route("/j/{job_id}/confirm", kinds.confirm_page, methods=["POST"]),
        Route("/j/{job_id}/assets.zip", kinds.kit_zip, methods=["GET"]),
        Route("/admin/runs/{run_id}", kinds.run_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
