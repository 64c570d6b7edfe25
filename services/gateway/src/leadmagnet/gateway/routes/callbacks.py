"""``POST /v1/callbacks``: an external system answers a job's approval gate (seed 004).

``POST /callback`` is the same for seed 004's own client (a Jira Automation rule posting
``{jiraStoryId, message, status}``): same authentication, same single-use token, same resume;
only the body differs, and the sender's status words are mapped per workflow (``status_map``).

Authenticated either by the tenant's API key or by a Standard Webhooks signature made with the
workflow's webhook secret (the scheme of our outgoing webhooks). The caller is authenticated
*before* anything is looked up, and every gate is the tenant's own (``tenant_id`` +
``external_id``), so the answers never tell who is waiting: without valid credentials it is
always 401; with them, an unknown id and another tenant's id are the same 404. The token is
single-use: a conditional delete decides, so a replayed or racing callback changes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from leadmagnet.common.models import DEFAULT_STATUS_MAP
from leadmagnet.common.stores.callback_tokens import CallbackToken
from leadmagnet.common.webhooks import WebhookVerificationError, verify
from leadmagnet.flows.gates import resume

from ..api import ApiContext, ErrorDetail, HTTPError, authenticate
from .registry import api

UNKNOWN = "no job of yours is waiting for this external id"
# One message for a missing, stale or unmatched signature and for an id nobody waits for: a
# signature is verified with the secret of the workflow whose gate it answers, and whether
# such a gate exists is exactly what an unauthenticated caller must not learn.
BAD_SIGNATURE = "the webhook signature is missing, outside the time tolerance or not valid"


class CallbackRequest(BaseModel):
    external_id: str = Field(min_length=1, max_length=200)
    status: Literal["success", "failure"]
    message: str = Field("", max_length=2000)


class CallbackResult(BaseModel):
    job_id: str
    status: str
    external_id: str


def _has_api_key(ctx: ApiContext) -> bool:
    headers = ctx.request.headers
    return bool(headers.get("authorization") or headers.get("x-api-key"))


async def _signed_gate(ctx: ApiContext, external_id: str) -> CallbackToken:
    """The gate whose workflow secret verifies the signature (the signature authenticates)."""
    headers, raw = ctx.request.headers, ctx.request.state.raw_body
    for token in await ctx.platform.callbacks.candidates(external_id):
        workflow = await ctx.platform.workflows.get(token.tenant_id, token.workflow_id)
        if workflow is None or not workflow.webhook_secret:
            continue
        try:
            verify(workflow.webhook_secret, headers, raw)
        except WebhookVerificationError:
            continue
        # The index is eventually consistent: re-read the gate itself before using it.
        current = await ctx.platform.callbacks.get(token.tenant_id, external_id)
        if current is not None and current.token == token.token:
            return current
        raise HTTPError(409, "callback_already_used", "this gate has already been answered")
    raise HTTPError(401, "invalid_signature", BAD_SIGNATURE)


async def _authorized_gate(ctx: ApiContext, external_id: str) -> CallbackToken:
    if _has_api_key(ctx) or "webhook-signature" not in ctx.request.headers:
        tenant_id = await authenticate(ctx.request, ctx.platform)  # 401 before any lookup
        token = await ctx.platform.callbacks.get(tenant_id, external_id)
        if token is None:
            raise HTTPError(404, "unknown_external_id", UNKNOWN)
        return token
    return await _signed_gate(ctx, external_id)


@api.route(
    "POST",
    "/v1/callbacks",
    summary="Answer an approval gate (success resumes delivery, failure fails the job)",
    tags=("callbacks",),
    request=CallbackRequest,
    response=CallbackResult,
    errors=(401, 404, 409),
)
async def post_callback(ctx: ApiContext) -> CallbackResult:
    body: CallbackRequest = ctx.body
    token = await _authorized_gate(ctx, body.external_id)
    if not await ctx.platform.callbacks.take(token):
        raise HTTPError(409, "callback_already_used", "this gate has already been answered")
    job = await resume(ctx.platform, token, success=body.status == "success", message=body.message)
    return CallbackResult(job_id=job.job_id, status=job.status.value, external_id=token.external_id)


# ---- seed 004's own client: a Jira Automation rule ------------------------------------------


class SeedCallbackRequest(BaseModel):
    """The body a Jira Automation rule sends (seed 004): the story is the external id. Other
    fields a rule adds are ignored (as in ``/v1/callbacks``)."""

    jiraStoryId: str = Field(min_length=1, max_length=200)
    status: str = Field(
        min_length=1,
        max_length=200,
        description="A status word of the sender, mapped by the workflow's"
        " await_callback.status_map (case-insensitive; success, failure and done always work).",
    )
    message: str = Field("", max_length=2000)


async def _outcome(ctx: ApiContext, token: CallbackToken, word: str) -> bool:
    """True for success, False for failure; 422 naming the accepted words otherwise."""
    workflow = await ctx.platform.workflows.get(token.tenant_id, token.workflow_id)
    gate = workflow.await_callback if workflow else None
    outcomes = gate.outcomes() if gate else dict(DEFAULT_STATUS_MAP)
    outcome = outcomes.get(word.strip().casefold())
    if outcome is None:
        accepted = ", ".join(sorted(outcomes))
        message = f"unknown status {word[:40]!r}; this gate accepts: {accepted}"
        raise HTTPError(
            422, "unknown_status", message, [ErrorDetail(loc="body.status", message=message)]
        )
    return outcome == "success"


@api.route(
    "POST",
    "/callback",
    summary="Seed 004's callback {jiraStoryId, message, status}: /v1/callbacks for Jira",
    tags=("callbacks",),
    request=SeedCallbackRequest,
    response=CallbackResult,
    errors=(401, 404, 409, 422),
)
async def post_seed_callback(ctx: ApiContext) -> CallbackResult:
    """Authenticated exactly like ``POST /v1/callbacks`` (API key or signature, before any
    lookup). The status word is mapped before the token is taken: an unknown word leaves the
    gate open for a corrected callback."""
    body: SeedCallbackRequest = ctx.body
    token = await _authorized_gate(ctx, body.jiraStoryId)
    success = await _outcome(ctx, token, body.status)
    if not await ctx.platform.callbacks.take(token):
        raise HTTPError(409, "callback_already_used", "this gate has already been answered")
    job = await resume(ctx.platform, token, success=success, message=body.message)
    return CallbackResult(job_id=job.job_id, status=job.status.value, external_id=token.external_id)
