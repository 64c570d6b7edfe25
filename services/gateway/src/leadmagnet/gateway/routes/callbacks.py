"""``POST /v1/callbacks``: an external system answers a job's approval gate (seed 004).

Authenticated either by the tenant's API key or by a Standard Webhooks signature made with the
workflow's webhook secret (the scheme of our outgoing webhooks). The token is single-use: a
conditional delete decides, so a replayed or racing callback gets 409 and changes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from leadmagnet.common.callbacks import CallbackToken, resume
from leadmagnet.common.webhooks import WebhookVerificationError, verify

from ..api import ApiContext, HTTPError, authenticate
from . import api


class CallbackRequest(BaseModel):
    external_id: str = Field(min_length=1, max_length=200)
    status: Literal["success", "failure"]
    message: str = Field("", max_length=2000)


class CallbackResult(BaseModel):
    job_id: str
    status: str
    external_id: str


async def _authorize(ctx: ApiContext, token: CallbackToken) -> None:
    headers = ctx.request.headers
    if "webhook-signature" in headers:
        workflow = await ctx.platform.workflows.get(token.tenant_id, token.workflow_id)
        if workflow is None or not workflow.webhook_secret:
            raise HTTPError(401, "invalid_signature", "this workflow has no signing secret")
        try:
            verify(workflow.webhook_secret, headers, ctx.request.state.raw_body)
        except WebhookVerificationError as e:
            raise HTTPError(401, "invalid_signature", e.message) from None
        return
    tenant_id = await authenticate(ctx.request, ctx.platform)
    if tenant_id != token.tenant_id:
        # Same answer as an unknown id: another tenant learns nothing about this one.
        raise HTTPError(404, "unknown_external_id", "no job is waiting for this external id")


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
    token = await ctx.platform.callbacks.get(body.external_id)
    if token is None:
        raise HTTPError(404, "unknown_external_id", "no job is waiting for this external id")
    await _authorize(ctx, token)
    if not await ctx.platform.callbacks.take(token):
        raise HTTPError(409, "callback_already_used", "this gate has already been answered")
    job = await resume(ctx.platform, token, success=body.status == "success", message=body.message)
    return CallbackResult(job_id=job.job_id, status=job.status.value, external_id=token.external_id)
