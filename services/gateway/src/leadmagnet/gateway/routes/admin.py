"""Authenticated admin API: a tenant's templates, workflows, forms and jobs.

Every store call is keyed by the caller's tenant id, so a key can never reach another tenant's
data: not found is the answer, whoever owns the id.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from leadmagnet.common.dynamo import StorableObject
from leadmagnet.common.errors import LeadmagnetError, PermanentError
from leadmagnet.common.ids import random_id
from leadmagnet.common.models import (
    FIELD_NAME,
    MAX_VERSION,
    RESOURCE_ID,
    WEBHOOK_EVENTS,
    CallbackGate,
    Form,
    FormField,
    WebhookEvents,
    WebhookFormat,
    Workflow,
    utcnow,
)
from leadmagnet.common.netguard import resolve_checked
from leadmagnet.common.webhooks import new_secret
from leadmagnet.flows.funnels import (
    MAX_BRAND_GUIDE_CHARS,
    MAX_FUNNEL_JSON_BYTES,
    MAX_IMAGE_ELEMENTS,
    FunnelSettings,
    camel_settings,
    find_image_elements,
)

from ..api import ApiContext, ErrorDetail, HTTPError, Strict, bounded_int, validation_details
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
    template_item,
    template_view,
    workflow_view,
)
from .registry import api

TAGS = ("admin",)
TEMPLATE_BODY_LIMIT = 1024 * 1024  # a brand guide and a funnel JSON


class TemplateCreate(Strict):
    kind: Literal["html", "funnel"] = Field(
        "html", description="'html': a lead-magnet page; 'funnel': a funnel to rewrite in runs."
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    html: str | None = Field(
        None,
        min_length=1,
        description="Kind html (required): Jinja2 (sandboxed) HTML; {{REPORT_CONTENT}}, {{DATE}} "
        "and the submission fields ({{ name }} or {{ submission.name }}) are available.",
    )
    brandGuideContent: str | None = Field(
        None, min_length=1, max_length=MAX_BRAND_GUIDE_CHARS, description="Kind funnel (required)."
    )
    templateFunnelJson: StorableObject | None = Field(
        None,
        description="Kind funnel (required): the funnel JSON whose texts and images runs rewrite.",
    )
    metadata: StorableObject = Field(
        default_factory=dict,
        description="Free-form; for funnels also imageFields, onImageFailure ('fail' | "
        "'keep_original'), imageQuality ('standard' | 'hd'), imageSize (a snake_case spelling "
        "such as on_image_failure is stored and answered in camelCase).",
    )
    publish: bool = False


class TemplateVersionCreate(Strict):
    """A new version; fields left out (or null) are taken from the newest version, and the
    result is checked as a whole for the template's kind, as at creation."""

    html: str | None = Field(None, min_length=1)
    brandGuideContent: str | None = Field(None, min_length=1, max_length=MAX_BRAND_GUIDE_CHARS)
    templateFunnelJson: StorableObject | None = None
    metadata: StorableObject | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    publish: bool = False


class WorkflowCreate(Strict):
    """A workflow turns a form submission into a report rendered with an html template: every
    workflow kind renders, so ``template_id`` is required (a workflow without one could only
    fail each job with ``no_template``)."""

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field("lead_magnet", pattern=r"^[a-z_]{3,40}$")
    instructions: str = Field(min_length=1, max_length=20_000)
    model: str | None = Field(None, max_length=100)
    template_id: str = Field(
        pattern=RESOURCE_ID, description="An html template of this tenant (checked at once)."
    )
    template_version: int | None = Field(
        None,
        ge=1,
        le=MAX_VERSION,
        description="Pinned template version; null uses the newest published one.",
    )
    webhook_url: str | None = Field(None, max_length=2000)
    webhook_format: WebhookFormat = Field(
        "standard",
        description="'standard': the Standard Webhooks envelope {type, event_id, timestamp,"
        " data}; 'seed': the flat {job_id, status, output_url, artifacts}. Signed alike.",
    )
    webhook_events: WebhookEvents = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS),
        description="The outcomes delivered to webhook_url (default: all three).",
    )
    options: StorableObject = Field(default_factory=dict)
    await_callback: CallbackGate | None = Field(
        None,
        description="Approval gate before delivery: wait for POST /v1/callbacks (or the seed's"
        " POST /callback, whose status words status_map maps). Each call's secret_id must be"
        " under '<RESOURCE_PREFIX>/'.",
    )


# What null means in a PATCH, per field: it clears an optional field; a required one (name,
# instructions, template_id) cannot be null. The merged workflow is then validated as a whole
# with WorkflowCreate, so a PATCH can never store what a POST could not.
_NOT_NULL = "Cannot be null (required)."
_ABSENT: Any = None  # the default of a field not sent: never read (exclude_unset)


class WorkflowUpdate(Strict):
    """Only the fields sent change (a merge). ``null`` clears an optional field: ``model`` (the
    default model), ``template_version`` (the newest published version), ``webhook_url`` (no
    webhook), ``await_callback`` (no gate), ``options`` (``{}``). ``name``, ``instructions``,
    ``template_id``, ``webhook_format`` and ``webhook_events`` cannot be null: null is a 422."""

    # Typed without None (and not required): the schema says null is refused, and pydantic
    # answers 422 with the field's location when it is sent.
    name: str = Field(_ABSENT, min_length=1, max_length=200, description=_NOT_NULL)
    instructions: str = Field(_ABSENT, min_length=1, max_length=20_000, description=_NOT_NULL)
    model: str | None = Field(None, max_length=100, description="null: the default model.")
    template_id: str = Field(_ABSENT, pattern=RESOURCE_ID, description=_NOT_NULL)
    template_version: int | None = Field(
        None, ge=1, le=MAX_VERSION, description="null: the newest published version."
    )
    webhook_url: str | None = Field(None, max_length=2000, description="null: no webhook.")
    webhook_format: WebhookFormat = Field(_ABSENT, description=_NOT_NULL)
    webhook_events: WebhookEvents = Field(_ABSENT, description=_NOT_NULL)
    options: StorableObject | None = Field(None, description="null: {}.")
    await_callback: CallbackGate | None = Field(None, description="null: no approval gate.")


class FormCreate(Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    workflow_id: str = Field(pattern=RESOURCE_ID)
    fields: list[FormField] = Field(min_length=1, max_length=50)


class JobsQuery(Strict):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=2000)


def _invalid(loc: str, message: str, code: str = "validation_error") -> HTTPError:
    return HTTPError(422, code, message, [ErrorDetail(loc=loc, message=message)])


def _template_body(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The stored body of a template version, checked for its kind."""
    body: dict[str, Any] = {
        "kind": kind,
        "name": fields["name"],
        "description": fields.get("description") or "",
        "metadata": fields.get("metadata") or {},
    }
    if kind == "html":
        if not fields.get("html"):
            raise _invalid("body.html", "an html template needs 'html'")
        # Imported here: markdown, nh3 and jinja2 are the renderer's; the gateway needs them only
        # to check an uploaded template (not at every start).
        from leadmagnet.common.rendering import check_template

        try:
            check_template(fields["html"])
        except PermanentError as e:
            raise _invalid("body.html", e.message, e.code) from None
        body["html"] = fields["html"]
        return body
    for name in ("brandGuideContent", "templateFunnelJson"):
        if not fields.get(name):
            raise _invalid(f"body.{name}", f"a funnel template needs '{name}'")
    funnel = fields["templateFunnelJson"]
    size = len(json.dumps(funnel, ensure_ascii=False).encode())
    if size > MAX_FUNNEL_JSON_BYTES:
        raise _invalid(
            "body.templateFunnelJson", f"{size} bytes; the limit is {MAX_FUNNEL_JSON_BYTES}"
        )
    body["metadata"] = camel_settings(body["metadata"])  # the template answers in camelCase
    try:
        settings = FunnelSettings.model_validate(body["metadata"])
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        loc = ".".join(["body.metadata", *(str(p) for p in first["loc"])])
        raise _invalid(loc, first["msg"]) from None
    try:
        elements = find_image_elements(funnel, settings)
    except (KeyError, ValueError) as e:
        raise _invalid(
            "body.metadata.imageFields", f"not an image URL in the funnel: {e}"
        ) from None
    if len(elements) > MAX_IMAGE_ELEMENTS:
        raise _invalid(
            "body.templateFunnelJson",
            f"{len(elements)} image elements; the limit is {MAX_IMAGE_ELEMENTS}",
        )
    body["brandGuideContent"] = fields["brandGuideContent"]
    body["templateFunnelJson"] = funnel
    return body


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
    """Outbound calls obey the same SSRF rules as webhooks, and read only secrets under
    '<RESOURCE_PREFIX>/' (the renderer refuses others: better to say so now than at the gate)."""
    scope = f"{ctx.platform.settings.resource_prefix}/"
    for i, call in enumerate(gate.calls if gate else []):
        loc = f"body.await_callback.calls[{i}]"
        if call.secret_id is not None and not call.secret_id.startswith(scope):
            message = f"secret_id must start with '{scope}'"
            raise HTTPError(
                422,
                "invalid_secret_id",
                message,
                [ErrorDetail(loc=f"{loc}.secret_id", message=message)],
            )
        try:
            await resolve_checked(
                call.url, allow_private=ctx.platform.settings.allow_private_targets
            )
        except LeadmagnetError as e:
            raise HTTPError(
                422,
                "invalid_call_url",
                e.message,
                [ErrorDetail(loc=f"{loc}.url", message=e.message)],
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
    if doc.body.get("kind", "html") != "html":
        raise _invalid(
            "body.template_id", "a workflow renders an html template, not a funnel template"
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
    body_limit=TEMPLATE_BODY_LIMIT,
)
async def create_template(ctx: ApiContext) -> TemplateView:
    body: TemplateCreate = ctx.body
    doc = await ctx.platform.templates.create_version(
        ctx.require_tenant(),
        random_id("tpl", 12),
        _template_body(body.kind, body.model_dump(exclude={"kind", "publish"})),
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
    return TemplateList(templates=[template_item(d) for d in docs])


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
    return TemplateList(templates=[template_item(d) for d in docs])


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
    body_limit=TEMPLATE_BODY_LIMIT,
)
async def add_template_version(ctx: ApiContext) -> TemplateView:
    tenant = ctx.require_tenant()
    template_id = ctx.path["template_id"]
    latest = await ctx.platform.templates.latest(tenant, template_id)
    if latest is None:
        raise HTTPError(404, "template_not_found", "no such template")
    body: TemplateVersionCreate = ctx.body
    fields = {**latest.body, **body.model_dump(exclude={"publish"}, exclude_none=True)}
    doc = await ctx.platform.templates.create_version(
        tenant,
        template_id,
        _template_body(str(latest.body.get("kind", "html")), fields),
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
    version = bounded_int(ctx.path["version"], maximum=MAX_VERSION)
    if not version:
        raise HTTPError(404, "template_not_found", f"version must be a number 1..{MAX_VERSION}")
    doc = await ctx.platform.templates.publish(
        ctx.require_tenant(), ctx.path["template_id"], version
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
    errors=(404, 409),
)
async def get_workflow(ctx: ApiContext) -> WorkflowView:
    tenant, workflow_id = ctx.require_tenant(), ctx.path["workflow_id"]
    wf = await ctx.platform.workflows.get(tenant, workflow_id)
    if wf is None:
        if await ctx.platform.workflows.get_raw(tenant, workflow_id) is not None:
            # Stored before validation existed (or by hand): say so, and how to repair it.
            raise HTTPError(
                409,
                "workflow_invalid",
                "this workflow is stored invalid; PATCH it with valid values to repair it",
            )
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
    """A merge: only the fields sent change; the merged workflow is validated as a whole (as at
    creation) before anything is written. Returns a new webhook secret only when the workflow
    gets its first webhook URL or approval gate."""
    tenant = ctx.require_tenant()
    stored = await ctx.platform.workflows.get_raw(tenant, ctx.path["workflow_id"])
    if stored is None:
        raise HTTPError(404, "workflow_not_found", "no such workflow")
    changes = ctx.body.model_dump(exclude_unset=True)
    if "options" in changes and changes["options"] is None:
        changes["options"] = {}
    editable = {k: stored[k] for k in WorkflowCreate.model_fields if stored.get(k) is not None}
    try:
        merged = WorkflowCreate.model_validate({**editable, **changes})
    except ValidationError as e:
        raise HTTPError(
            422,
            "validation_error",
            "the workflow would be invalid",
            validation_details(e, "body"),
        ) from None
    # The outbound targets are resolved (DNS) only when they change; the template always.
    if "webhook_url" in changes:
        await _check_webhook(ctx, merged.webhook_url)
    if "await_callback" in changes:
        await _check_gate(ctx, merged.await_callback)
    await _check_template_ref(ctx, merged.template_id, merged.template_version)
    secret = stored.get("webhook_secret")
    new_secret_value = None
    if (merged.webhook_url or merged.await_callback) and not secret:
        secret = new_secret_value = new_secret()
    wf = Workflow.model_validate(
        {**stored, **merged.model_dump(), "webhook_secret": secret, "updated_at": utcnow()}
    )
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
