"""Seed 002's WebSocket: a kit's progress as the seed's ``WebSocketMessage`` union, at
``/ws?jobId=…`` and ``/v1/ws?jobId=…``.

A second transport over the stream the SSE endpoint sends (``progress.follow_job`` reads the
job's timeline for both): one text frame per timeline entry that has a seed message type,
``{"type", "payload", "seq"}`` — ``type`` and ``payload`` exactly the SSE message's ``event`` and
``payload`` except that ``progress`` is given per phase as the seed's ``useJobStatus`` hook reads
it (``job.analyzing``: the overall percentage, at most 50; ``job.generating``: 0-100 within the
generating phase, which the hook shows as ``50 + progress / 2``), and ``seq`` the entry's id, to
resume after a reconnect with ``?after=<seq>``. The socket closes with 1000 after
``job.complete`` / ``job.error``.

Authentication: a ``product_marketing`` publishable key as ``?key=`` (browsers cannot set
headers on a WebSocket), its Origin checked like any browser call; without a key, the one active
``product_marketing`` key that allows the page's Origin (so the seed's hook works as written);
or the secret API key in a header (server-side clients). The key's tenant must own the kit.
Refusals are sent after the handshake as close codes ``4000 + HTTP status``, the reason the
error message: 4401 no or an invalid key, 4403 origin or flow not allowed, 4429 rate
limited, 4422 a bad ``after``, 4404 an unknown job and another tenant's job alike.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from leadmagnet.common.logging import get_logger
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import PRODUCT_KIND

from .api import ErrorDetail, HTTPError, bounded_int
from .progress import SEED_TYPES, Signal, Step, follow_job, seed_payload
from .routes.public import MAX_EVENT_ID
from .routes.seed_kits import kit_caller

log = get_logger()

WS_PATHS = ("/ws", "/v1/ws")
WS_MAX_SECONDS = 1800.0  # a kit takes minutes; then 1001 and the client resumes with ?after=
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_SERVICE_RESTART = 1012
MAX_REASON_BYTES = 123  # a close frame's reason


def ws_message(step: Step) -> dict[str, Any] | None:
    """The seed's message for a timeline entry (None for entries without a seed type)."""
    kind = SEED_TYPES.get(step.event.type)
    if kind is None:
        return None
    payload = seed_payload(step.event)
    percent = step.progress.percent
    if kind == "job.analyzing":
        payload["progress"] = min(50, percent)
    elif kind == "job.generating":
        payload["progress"] = max(0, min(100, 2 * (percent - 50)))
    return {"type": kind, "payload": payload, "seq": step.event.seq}


async def _open(websocket: WebSocket, platform: Platform) -> tuple[str, int]:
    """(job id, resume point) of an allowed connection, or the HTTPError to close with."""
    query = websocket.query_params
    after = 0
    if query.get("after") is not None:
        parsed = bounded_int(query["after"], maximum=MAX_EVENT_ID)
        if parsed is None:
            message = f"must be an event id: an integer 0..{MAX_EVENT_ID}"
            raise HTTPError(
                422,
                "validation_error",
                "invalid after",
                [ErrorDetail(loc="query.after", message=message)],
            )
        after = parsed
    # The seed's hook opens `${WS_URL}?jobId=…` as written: without a key, the page's Origin
    # names the key (read-only, and the job id is a capability like the SSE stream's).
    tenant, _ = await kit_caller(websocket, platform, allow_origin_binding=True)
    job_id = query.get("jobId", "")
    job = await platform.jobs.get(job_id) if 0 < len(job_id) <= 64 else None
    if job is None or job.tenant_id != tenant or job.kind != PRODUCT_KIND:
        raise HTTPError(404, "job_not_found", "no such kit")
    return job_id, after


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    if websocket.application_state is WebSocketState.DISCONNECTED:
        return
    reason = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")
    with suppress(RuntimeError, OSError):  # the client went away first
        await websocket.close(code=code, reason=reason)


async def job_socket(websocket: WebSocket) -> None:
    platform: Platform = websocket.app.state.platform
    try:
        job_id, after = await _open(websocket, platform)
    except HTTPError as e:
        await websocket.accept()
        await _close(websocket, 4000 + e.status, f"{e.code}: {e.message}")
        log.info("ws.refused", status=e.status, code=e.code)
        return
    await websocket.accept()
    gone = asyncio.Event()

    async def watch() -> None:  # the client sends nothing we need; a close ends the stream
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        except (WebSocketDisconnect, RuntimeError):
            pass
        gone.set()

    async def stop() -> bool:
        return gone.is_set() or bool(getattr(websocket.app.state, "draining", False))

    watcher = asyncio.create_task(watch())
    ended = False
    sent = 0
    try:
        async for step in follow_job(
            platform, job_id, after, stop=stop, max_seconds=WS_MAX_SECONDS
        ):
            if step is Signal.END:
                ended = True
                break
            if step is Signal.KEEP_ALIVE:
                continue
            after = step.event.seq
            message = ws_message(step)
            if message is not None:
                await websocket.send_text(json.dumps(message))
                sent += 1
    except (WebSocketDisconnect, RuntimeError, OSError):
        gone.set()
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
    log.info("ws.done", job_id=job_id, sent=sent, ended=ended, client_gone=gone.is_set())
    if gone.is_set():
        return
    if ended:
        await _close(websocket, CLOSE_NORMAL)
    elif getattr(websocket.app.state, "draining", False):
        await _close(websocket, CLOSE_SERVICE_RESTART, f"reconnect with after={after}")
    else:
        await _close(websocket, CLOSE_GOING_AWAY, f"reconnect with after={after}")


def websocket_routes() -> list[WebSocketRoute]:
    return [WebSocketRoute(path, job_socket) for path in WS_PATHS]
