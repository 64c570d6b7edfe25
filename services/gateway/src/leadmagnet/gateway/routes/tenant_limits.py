"""The calling tenant's limits (admin, with its secret API key): read them, tighten them.

``model_concurrency`` (model calls in flight at once over every worker) and
``submits_per_minute`` (per public form). ``null`` is the platform's default. Through the API a
tenant may lower a limit, or set it back up to the larger of the platform's default and what is
in force now: only an operator raises a tenant above the default (``leadmagnet tenants limits``),
since these limits are what keeps one tenant's flood from delaying the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from leadmagnet.common.stores.tenants import (
    MAX_MODEL_CONCURRENCY,
    MAX_SUBMITS_PER_MINUTE,
    TenantLimits,
)
from leadmagnet.common.tenant_limits import EffectiveLimits, defaults, in_force

from ..api import ApiContext, ErrorDetail, HTTPError, Strict
from .registry import api

TAGS = ("tenant",)
PATH = "/v1/tenant/limits"


class TenantLimitsUpdate(Strict):
    model_concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_MODEL_CONCURRENCY,
        description="Model calls in flight at once (null: the platform's default).",
    )
    submits_per_minute: int | None = Field(
        None,
        ge=1,
        le=MAX_SUBMITS_PER_MINUTE,
        description="Submissions a minute per public form (null: the platform's default).",
    )


class LimitValues(BaseModel):
    model_concurrency: int
    submits_per_minute: int


class TenantLimitsView(BaseModel):
    limits: TenantLimitsUpdate = Field(description="The tenant's own values (null: the default).")
    in_force: LimitValues = Field(description="What is enforced now (workers within 30 s).")
    defaults: LimitValues = Field(description="The platform's defaults.")


def _values(limits: EffectiveLimits) -> LimitValues:
    return LimitValues(
        model_concurrency=limits.model_concurrency, submits_per_minute=limits.submits_per_minute
    )


def _view(own: TenantLimits, ctx: ApiContext) -> TenantLimitsView:
    settings = ctx.platform.settings
    return TenantLimitsView(
        limits=TenantLimitsUpdate(**own.model_dump()),
        in_force=_values(in_force(own, settings)),
        defaults=_values(defaults(settings)),
    )


@api.route(
    "GET",
    PATH,
    summary="The calling tenant's limits",
    tags=TAGS,
    auth=True,
    response=TenantLimitsView,
)
async def get_tenant_limits(ctx: ApiContext) -> TenantLimitsView:
    own = await ctx.platform.tenants.limits(ctx.require_tenant(), consistent=True)
    return _view(own, ctx)


@api.route(
    "PUT",
    PATH,
    summary="Set the calling tenant's limits (lower, or back up to the default)",
    tags=TAGS,
    auth=True,
    request=TenantLimitsUpdate,
    response=TenantLimitsView,
    errors=(404,),
)
async def put_tenant_limits(ctx: ApiContext) -> TenantLimitsView:
    """Replaces both values (``null``: the platform's default). A value above both the default
    and what is in force now is a 422 naming the field: an operator raises limits."""
    body: TenantLimitsUpdate = ctx.body
    tenant = ctx.require_tenant()
    settings = ctx.platform.settings
    now = in_force(await ctx.platform.tenants.limits(tenant, consistent=True), settings)
    base = defaults(settings)
    problems = [
        ErrorDetail(
            loc=f"body.{name}",
            message=f"at most {ceiling} (the platform's default or the value in force); "
            "an operator raises it with `leadmagnet tenants limits`",
        )
        for name, asked, ceiling in (
            (
                "model_concurrency",
                body.model_concurrency,
                max(base.model_concurrency, now.model_concurrency),
            ),
            (
                "submits_per_minute",
                body.submits_per_minute,
                max(base.submits_per_minute, now.submits_per_minute),
            ),
        )
        if asked is not None and asked > ceiling
    ]
    if problems:
        message = "a limit is above what this tenant may set"
        raise HTTPError(422, "limit_too_high", message, problems)
    own = TenantLimits(**body.model_dump())
    if not await ctx.platform.tenants.set_limits(tenant, own):
        raise HTTPError(404, "tenant_not_found", "this API key's tenant no longer exists")
    return _view(own, ctx)
