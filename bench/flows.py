"""The platform's other flows, driven over HTTP as an outside client would, on the pipeline
benchmark's stack (same moto, same services, offline provider): product kits, funnel runs,
chat leads and lead-magnet jobs behind an approval gate.

Each flow runs its jobs with bounded client concurrency inside its own measurement window.
The benchmark waits by polling a second gateway process (the *observer*) whose AWS calls carry
their own tag: waiting is the benchmark's cost, not the flow's, so it is left out of the counts
and of the CPU figures.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from leadmagnet.cli.demo import DEMO_FUNNEL, Demo
from leadmagnet.flows.funnels import FunnelSettings, find_image_elements
from leadmagnet.testing.kits import product_photo

from .measure import Window

POLL_SECONDS = 1.0
WITHIN_SECONDS = 180.0


class FlowError(RuntimeError):
    pass


@dataclass
class Client:
    """The benchmark as a tenant's client: ``base`` is the measured gateway, ``observer`` the
    one it polls."""

    http: httpx2.AsyncClient
    base: str
    observer: str
    demo: Demo

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.demo.api_key}"}

    async def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> Any:
        resp = await self.http.post(
            f"{self.base}{path}", json=body, headers=self.auth if auth else {}
        )
        if resp.status_code >= 300:
            raise FlowError(f"POST {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    async def wait(
        self, path: str, done: Callable[[dict[str, Any]], bool], **params: str
    ) -> dict[str, Any]:
        """Poll the observer's ``path`` until ``done``; the last answer (after the deadline,
        whatever it is)."""
        deadline = time.monotonic() + WITHIN_SECONDS
        while True:
            resp = await self.http.get(f"{self.observer}{path}", headers=self.auth, params=params)
            body: dict[str, Any] = resp.json() if resp.status_code == 200 else {}
            if (body and done(body)) or time.monotonic() > deadline:
                return body
            await asyncio.sleep(POLL_SECONDS)


def _status_in(*statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body.get("status") in statuses


# ---- one job of each flow: True when it completed ------------------------------------------

PHOTO = product_photo()


async def product_kit(c: Client, i: int) -> bool:
    """Upload (presigned POST), start, confirm once analysed, wait for the assets."""
    filename = f"bench-{i}.png"
    ticket = await c.post(
        "/v1/uploads", {"filename": filename, "content_type": "image/png", "size": len(PHOTO)}
    )
    sent = await c.http.post(
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": (filename, PHOTO, "image/png")},
    )
    if sent.status_code >= 300:
        raise FlowError(f"upload: {sent.status_code} {sent.text[:300]}")
    job_id = (await c.post("/v1/jobs", {"kind": "product_marketing", "s3_key": ticket["s3_key"]}))[
        "job_id"
    ]
    job = await c.wait(
        f"/v1/jobs/{job_id}", _status_in("awaiting_confirmation", "completed", "failed")
    )
    if job.get("status") != "awaiting_confirmation":
        return False
    await c.post(f"/v1/jobs/{job_id}/confirm", {"preferences": {"tone": "playful"}})
    return (await c.wait(f"/v1/jobs/{job_id}", _status_in("completed", "failed"))).get(
        "status"
    ) == "completed"


async def funnel_run(c: Client, i: int) -> bool:
    """A run of the demo funnel template: images regenerated, copy rewritten."""
    body = {
        "templateId": c.demo.funnel_template_id,
        "input": {"input_as_text": f"Bench run {i}: a calm evening routine for new parents."},
    }
    run_id = (await c.post("/v1/runs", body))["runId"]
    run = await c.wait(f"/v1/runs/{run_id}", _status_in("completed", "failed"))
    return run.get("status") == "completed"


def _chat(i: int) -> list[dict[str, Any]]:
    quiet = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()  # idle: hand over now
    return [
        {"role": "assistant", "text": "Hello! How can we help?", "time": quiet},
        {
            "role": "user",
            "text": f"Hi, I'm Sam. I need my Mustang seats redone (bench {i}). Call me at"
            " +1 555 123 4567.",
            "time": quiet,
        },
        {"role": "assistant", "text": "Thanks, we'll be in touch.", "time": quiet},
    ]


async def chat_lead(c: Client, i: int) -> bool:
    """An idle chat thread on the demo channel: summarised, e-mailed to the owner."""
    channel, thread = f"{c.demo.slug}-chat", f"cthr_bench{secrets.token_hex(6)}"
    body = {"channel": channel, "thread_id": thread, "reason": "idle", "messages": _chat(i)}
    answer = await c.post("/v1/leads", body, auth=False)
    if answer.get("status") != "queued":
        raise FlowError(f"lead not queued: {answer}")
    state = await c.wait(
        f"/v1/leads/{thread}", lambda s: s.get("state") in ("sent", "error"), channel=channel
    )
    return state.get("state") == "sent"


async def gated_job(c: Client, i: int) -> bool:
    """A form submission whose workflow waits for approval; approved by callback."""
    story = f"STORY-{secrets.token_hex(4)}"
    fields = {"name": "Ada", "email": "ada@example.com", "company": story, "goal": "gate"}
    job_id = (await c.post(f"/v1/forms/{c.demo.slug}/submit", fields, auth=False))["job_id"]
    job = await c.wait(f"/v1/jobs/{job_id}", _status_in("awaiting_callback", "completed", "failed"))
    if job.get("status") != "awaiting_callback":
        return False
    await c.post("/v1/callbacks", {"external_id": story, "status": "success"})
    return (await c.wait(f"/v1/jobs/{job_id}", _status_in("completed", "failed"))).get(
        "status"
    ) == "completed"


def demo_funnel_images() -> int:
    """Image elements of the demo funnel (one image generation each per run)."""
    funnel = DEMO_FUNNEL["templateFunnelJson"]
    assert isinstance(funnel, dict)
    return len(find_image_elements(funnel, FunnelSettings.model_validate(DEMO_FUNNEL["metadata"])))


async def gate_workflow(c: Client) -> None:
    """Put an approval gate on the demo workflow (keyed by the ``company`` field)."""
    resp = await c.http.patch(
        f"{c.base}/v1/workflows/{c.demo.workflow_id}",
        json={"await_callback": {"external_id_field": "company", "timeout_seconds": 3600}},
        headers=c.auth,
    )
    if resp.status_code != 200:
        raise FlowError(f"PATCH workflow: {resp.status_code} {resp.text[:300]}")


OneJob = Callable[[Client, int], Awaitable[bool]]
# name -> (one job, what the section calls it, what it drives)
FLOWS: dict[str, tuple[OneJob, str, str]] = {
    "product_kit": (
        product_kit,
        "Product marketing kit",
        "`POST /v1/uploads` + presigned POST of a 1000x800 PNG (the client's own S3 call, not"
        " counted), `POST /v1/jobs`, `POST /v1/jobs/{id}/confirm` once analysed; done when"
        " `completed` (5 creatives and their thumbnails, copy)",
    ),
    "funnel_run": (
        funnel_run,
        "Funnel rewrite run",
        "`POST /v1/runs` on the demo funnel template; done when the run is `completed`",
    ),
    "chat_lead": (
        chat_lead,
        "Chat lead hand-off",
        "`POST /v1/leads` with an idle thread that has a phone number; done when the lead"
        " e-mail is `sent` (SES)",
    ),
    "gated_job": (
        gated_job,
        "Lead magnet behind an approval gate",
        "form submit to a workflow with `await_callback`, `POST /v1/callbacks` (success) once"
        " `awaiting_callback`; done when `completed`",
    ),
}


async def run_flow(
    c: Client, window: Window, name: str, jobs: int, concurrency: int
) -> dict[str, Any]:
    one, _, _ = FLOWS[name]
    gate = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> bool:
        async with gate:
            return await one(c, i)

    window.start()
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(bounded(i) for i in range(jobs)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    result = window.result(jobs, sum(o is True for o in outcomes), elapsed)
    result["concurrency"] = concurrency
    result["errors"] = errors[:3]
    return result
