"""Authenticated admin API: a tenant's templates, workflows, forms and jobs.

Every store call is keyed by the caller's tenant id, so a key can never reach another tenant's
data: not found is the answer, whoever owns the id.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from leadmagnet.common.errors import LeadmagnetError, PermanentError
from leadmagnet.common.ids import random_id
from leadmagnet.common.models import FIELD_NAME, CallbackGate, Form, FormField, Workflow, utcnow
from leadmagnet.common.netguard import resolve_checked
from leadmagnet.common.rendering import check_template
from leadmagnet.common.webhooks import new_secret

from ..api import ApiContext, ErrorDetail, HTTPError, Strict
from ..views import (
    FormList,
    FormView,
    JobList,
    TemplateList,
    TemplateView,
    WorkflowCreated,
    WorkflowList,
    WorkflowView,
    form_view,
    job_summary,
    template_view,
    workflow_view,
)
from . import api

TAGS = ("admin",)


class TemplateCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    html: str = Field(
        min_length=1,
        description="Jinja2 (sandboxed) HTML; {{REPORT_CONTENT}}, {{DATE}} and the submission "
        "fields ({{ name }} or {{ submission.name }}) are available.",
    )
    publish: bool = False


class TemplateVersionCreate(Strict):
    html: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    publish: bool = False


class WorkflowCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field("lead_magnet", pattern=r"^[a-z_]{3,40}$")
    instructions: str = Field(min_length=1, max_length=20_000)
    model: str | None = Field(None, max_length=100)
    template_id: str | None = None
    template_version: int | None = Field(None, ge=1)
    webhook_url: str | None = Field(None, max_length=2000)
    options: dict[str, Any] = Field(default_factory=dict)
    await_callback: CallbackGate | None = Field(
        None, description="Approval gate before delivery: wait for POST /v1/callbacks."
    )


class WorkflowUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    instructions: str | None = Field(None, min_length=1, max_length=20_000)
    model: str | None = Field(None, max_length=100)
    template_id: str | None = None
    template_version: int | None = Field(None, ge=1)
    webhook_url: str | None = Field(None, max_length=2000)
    options: dict[str, Any] | None = None


class FormCreate(Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    workflow_id: str
    fields: list[FormField] = Field(min_length=1, max_length=50)


class JobsQuery(Strict):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=2000)


def _template_body(name: str, description: str, html: str) -> dict[str, Any]:
    try:
        check_template(html)
    except PermanentError as e:
        raise HTTPError(
            422, e.code, e.message, [ErrorDetail(loc="body.html", message=e.message)]
        ) from None
    return {"name": name, "description": description, "html": html}


async def _check_webhook(ctx: ApiContext, url: str | None) -> None:
    if not url:
        return
    try:
        await resolve_checked(url, allow_private=ctx.platform.settings.allow_private_targets)
    except LeadmagnetError as e:
        raise HTTPError(
            422,
            "invalid_webhook_url",
            e.message,
            [ErrorDetail(loc="body.webhook_url", message=e.message)],
        ) from None


async def _check_gate(ctx: ApiContext, gate: CallbackGate | None) -> None:
    """Outbound calls obey the same SSRF rules as webhooks."""
    for i, call in enumerate(gate.calls if gate else []):
        try:
            await resolve_checked(
                call.url, allow_private=ctx.platform.settings.allow_private_targets
            )
        except LeadmagnetError as e:
            loc = f"body.await_callback.calls[{i}].url"
            raise HTTPError(
                422, "invalid_call_url", e.message, [ErrorDetail(loc=loc, message=e.message)]
            ) from None


async def _check_template_ref(
    ctx: ApiContext, template_id: str | None, version: int | None
) -> None:
    if template_id is None:
        return
    tenant = ctx.require_tenant()
    doc = (
        await ctx.platform.templates.get(tenant, template_id, version)
        if version
        else await ctx.platform.templates.latest(tenant, template_id)
    )
    if doc is None:
        raise HTTPError(
            422,
            "unknown_template",
            f"template {template_id}{f' v{version}' if version else ''} not found",
            [ErrorDetail(loc="body.template_id", message="not found")],
        )


# ---- templates ---------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/templates",
    summary="Create a template (version 1)",
    tags=TAGS,
    auth=True,
    status=201,
    request=TemplateCreate,
    response=TemplateView,
)
async def create_template(ctx: ApiContext) -> TemplateView:
    body: TemplateCreate = ctx.body
    doc = await ctx.platform.templates.create_version(
        ctx.require_tenant(),
        random_id("tpl", 12),
        _template_body(body.name, body.description, body.html),
        publish=body.publish,
    )
    return template_view(doc)


@api.route(
    "GET",
    "/v1/templates",
    summary="List templates (newest version of each)",
    tags=TAGS,
    auth=True,
    response=TemplateList,
)
async def list_templates(ctx: ApiContext) -> TemplateList:
    docs = await ctx.platform.templates.list_latest(ctx.require_tenant())
    return TemplateList(templates=[template_view(d) for d in docs])


@api.route(
    "GET",
    "/v1/templates/{template_id}",
    summary="All versions of a template",
    tags=TAGS,
    auth=True,
    response=TemplateList,
    errors=(404,),
)
async def get_template(ctx: ApiContext) -> TemplateList:
    docs = await ctx.platform.templates.versions(ctx.require_tenant(), ctx.path["template_id"])
    if not docs:
        raise HTTPError(404, "template_not_found", "no such template")
    return TemplateList(templates=[template_view(d) for d in docs])


@api.route(
    "POST",
    "/v1/templates/{template_id}/versions",
    summary="Add a template version",
    tags=TAGS,
    auth=True,
    status=201,
    request=TemplateVersionCreate,
    response=TemplateView,
    errors=(404,),
)
async def add_template_version(ctx: ApiContext) -> TemplateView:
    tenant = ctx.require_tenant()
    template_id = ctx.path["template_id"]
    latest = await ctx.platform.templates.latest(tenant, template_id)
    if latest is None:
        raise HTTPError(404, "template_not_found", "no such template")
    body: TemplateVersionCreate = ctx.body
    doc = await ctx.platform.templates.create_version(
        tenant,
        template_id,
        _template_body(
            body.name or str(latest.body.get("name", "")),
            body.description
            if body.description is not None
            else str(latest.body.get("description", "")),
            body.html,
        ),
        publish=body.publish,
    )
    return template_view(doc)


@api.route(
    "POST",
    "/v1/templates/{template_id}/versions/{version}/publish",
    summary="Publish a template version",
    tags=TAGS,
    auth=True,
    response=TemplateView,
    errors=(404,),
)
async def publish_template(ctx: ApiContext) -> TemplateView:
    version = ctx.path["version"]
    if not version.isdigit():
        raise HTTPError(404, "template_not_found", "version must be a number")
    doc = await ctx.platform.templates.publish(
        ctx.require_tenant(), ctx.path["template_id"], int(version)
    )
    return template_view(doc)


# ---- workflows ---------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/workflows",
    summary="Create a workflow",
    tags=TAGS,
    auth=True,
    status=201,
    request=WorkflowCreate,
    response=WorkflowCreated,
)
async def create_workflow(ctx: ApiContext) -> WorkflowCreated:
    body: WorkflowCreate = ctx.body
    await _check_webhook(ctx, body.webhook_url)
    await _check_gate(ctx, body.await_callback)
    await _check_template_ref(ctx, body.template_id, body.template_version)
    wf = Workflow(
        workflow_id=random_id("wf", 12),
        tenant_id=ctx.require_tenant(),
        # The secret signs outgoing webhooks and verifies signed callbacks.
        webhook_secret=new_secret() if body.webhook_url or body.await_callback else None,
        **body.model_dump(),
    )
    await ctx.platform.workflows.put(wf)
    return WorkflowCreated(**workflow_view(wf).model_dump(), webhook_secret=wf.webhook_secret)


@api.route(
    "GET", "/v1/workflows", summary="List workflows", tags=TAGS, auth=True, response=WorkflowList
)
async def list_workflows(ctx: ApiContext) -> WorkflowList:
    wfs = await ctx.platform.workflows.list(ctx.require_tenant())
    return WorkflowList(workflows=[workflow_view(w) for w in wfs])


@api.route(
    "GET",
    "/v1/workflows/{workflow_id}",
    summary="A workflow",
    tags=TAGS,
    auth=True,
    response=WorkflowView,
    errors=(404,),
)
async def get_workflow(ctx: ApiContext) -> WorkflowView:
    wf = await ctx.platform.workflows.get(ctx.require_tenant(), ctx.path["workflow_id"])
    if wf is None:
        raise HTTPError(404, "workflow_not_found", "no such workflow")
    return workflow_view(wf)


@api.route(
    "PATCH",
    "/v1/workflows/{workflow_id}",
    summary="Change a workflow",
    tags=TAGS,
    auth=True,
    request=WorkflowUpdate,
    response=WorkflowCreated,
    errors=(404,),
)
async def update_workflow(ctx: ApiContext) -> WorkflowCreated:
    """Returns a new webhook secret only when a webhook URL is set for the first time."""
    wf = await ctx.platform.workflows.get(ctx.require_tenant(), ctx.path["workflow_id"])
    if wf is None:
        raise HTTPError(404, "workflow_not_found", "no such workflow")
    changes = ctx.body.model_dump(exclude_unset=True)
    await _check_webhook(ctx, changes.get("webhook_url"))
    await _check_template_ref(
        ctx, changes.get("template_id", wf.template_id), changes.get("template_version")
    )
    new_secret_value = None
    if changes.get("webhook_url") and not wf.webhook_secret:
        new_secret_value = changes["webhook_secret"] = new_secret()
    wf = wf.model_copy(update={**changes, "updated_at": utcnow()})
    await ctx.platform.workflows.put(wf)
    return WorkflowCreated(**workflow_view(wf).model_dump(), webhook_secret=new_secret_value)


# ---- forms -------------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/forms",
    summary="Create a public form",
    tags=TAGS,
    auth=True,
    status=201,
    request=FormCreate,
    response=FormView,
    errors=(409,),
)
async def create_form(ctx: ApiContext) -> FormView:
    body: FormCreate = ctx.body
    tenant = ctx.require_tenant()
    if await ctx.platform.workflows.get(tenant, body.workflow_id) is None:
        raise HTTPError(
            422,
            "unknown_workflow",
            "workflow not found",
            [ErrorDetail(loc="body.workflow_id", message="not found")],
        )
    names = [f.name for f in body.fields]
    if len(set(names)) != len(names):
        raise HTTPError(
            422,
            "validation_error",
            "field names must be unique",
            [
                ErrorDetail(
                    loc="body.fields", message=f"names must match {FIELD_NAME} and be unique"
                )
            ],
        )
    form = await ctx.platform.forms.create(Form(tenant_id=tenant, **body.model_dump()))
    return form_view(ctx.platform, form)


@api.route("GET", "/v1/forms", summary="List forms", tags=TAGS, auth=True, response=FormList)
async def list_forms(ctx: ApiContext) -> FormList:
    forms = await ctx.platform.forms.list(ctx.require_tenant())
    return FormList(forms=[form_view(ctx.platform, f) for f in forms])


# ---- jobs --------------------------------------------------------------------------------


@api.route(
    "GET",
    "/v1/jobs",
    summary="List the tenant's jobs, newest first",
    tags=TAGS,
    auth=True,
    query=JobsQuery,
    response=JobList,
)
async def list_jobs(ctx: ApiContext) -> JobList:
    q: JobsQuery = ctx.query
    jobs, cursor = await ctx.platform.jobs.list_for_tenant(
        ctx.require_tenant(), limit=q.limit, cursor=q.cursor
    )
    return JobList(jobs=[job_summary(ctx.platform, j) for j in jobs], next_cursor=cursor)
