"""Liveness, readiness, the OpenAPI document and its docs page."""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time

from starlette.responses import HTMLResponse, JSONResponse

from ..api import ApiContext
from ..headers import content_security_policy
from ..views import Health
from .registry import api

_READY_CACHE_SECONDS = 5.0
_ready_cache: tuple[float, Health, int] | None = None
_DOCS_CSS = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "pre{background:#f4f4f4;padding:1rem;overflow:auto}section{border-top:1px solid #ddd}"
)


@api.route("GET", "/healthz", summary="Liveness", tags=("ops",), response=Health)
async def healthz(ctx: ApiContext) -> Health:
    return Health(status="ok")


@api.route(
    "GET",
    "/readyz",
    summary="Readiness: can reach its AWS resources",
    tags=("ops",),
    response=Health,
    errors=(503,),
)
async def readyz(ctx: ApiContext) -> JSONResponse:
    global _ready_cache
    now = time.monotonic()
    if _ready_cache and now - _ready_cache[0] < _READY_CACHE_SECONDS:
        return JSONResponse(_ready_cache[1].model_dump(), status_code=_ready_cache[2])
    p = ctx.platform
    r = p.resources

    async def check(name: str, coro: object) -> tuple[str, str]:
        try:
            await asyncio.wait_for(coro, 3)  # type: ignore[arg-type]
            return name, "ok"
        except Exception as e:  # readiness reports every failure by name
            return name, f"error: {type(e).__name__}"

    results = dict(
        await asyncio.gather(
            check("dynamodb", p.aws.dynamodb.describe_table(TableName=r.table("jobs"))),
            check("sns", p.aws.sns.get_topic_attributes(TopicArn=await r.topic_arn())),
            check("s3", p.aws.s3.head_bucket(Bucket=r.bucket("artifacts"))),
        )
    )
    ok = all(v == "ok" for v in results.values())
    health = Health(status="ok" if ok else "unavailable", checks=results)
    status = 200 if ok else 503
    _ready_cache = (now, health, status)
    return JSONResponse(health.model_dump(), status_code=status)


@api.route("GET", "/openapi.json", summary="This OpenAPI 3.1 document", tags=("ops",))
async def openapi(ctx: ApiContext) -> JSONResponse:
    return JSONResponse(ctx.request.app.state.openapi)


@api.route("GET", "/docs", summary="Human-readable API reference", tags=("ops",))
async def docs(ctx: ApiContext) -> HTMLResponse:
    """A self-contained page (no CDN assets, no scripts) generated from the OpenAPI document,
    under the pages' strict CSP; its one style block carries the response's nonce."""
    nonce = secrets.token_urlsafe(16)
    doc = ctx.request.app.state.openapi
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = ", ".join(op["responses"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            rows.append(
                f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p><strong>{html.escape(op.get('summary', ''))}</strong>"
                f"{' — requires an API key' if op.get('security') else ''}</p>"
                f"<p>{html.escape(op.get('description', ''))}</p>"
                f"<p>Responses: {html.escape(responses)}</p>"
                + (
                    f"<details><summary>Request body</summary><pre>"
                    f"{html.escape(json.dumps(body.get('schema'), indent=2))}</pre></details>"
                    if body
                    else ""
                )
                + "</section>"
            )
    schemas = html.escape(json.dumps(doc["components"]["schemas"], indent=2))
    page = (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>leadmagnet API</title>"
        f"<style nonce='{nonce}'>{_DOCS_CSS}</style>"
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>"
        f"<p>{html.escape(doc['info']['description'])} "
        "<a href='/openapi.json'>openapi.json</a></p>"
        + "".join(rows)
        + f"<h2>Schemas</h2><pre>{schemas}</pre></html>"
    )
    return HTMLResponse(page, headers={"content-security-policy": content_security_policy(nonce)})
