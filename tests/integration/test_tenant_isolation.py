"""Every tenant-scoped lookup includes the tenant: two tenants that share an id, for each kind
of resource, never read, change or trigger each other's — and B's resource never blocks A's.

Ids the platform mints are random (jobs, runs, workflows, templates, attachments, SMS tokens);
here tenants are made to share them on purpose (the stores are written directly, or the id is
one every demo tenant has, like the ``demo-funnel`` template), so a lookup that forgot the
tenant would answer with the other tenant's resource. Approval-gate external ids (chosen by
the tenant's own systems) are covered in test_callbacks.py (per tenant, auth before lookup).
"""

from __future__ import annotations

import io
import secrets
from typing import Any

import httpx2
import pytest
from PIL import Image

from leadmagnet.cli.demo import DEMO_FUNNEL_ID, Demo, seed_demo
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient

pytestmark = pytest.mark.integration


class Tenant:
    def __init__(self, api: GatewayClient, demo: Demo) -> None:
        self.api = api
        self.demo = demo
        self.headers = {"authorization": f"Bearer {demo.api_key}"}

    async def get(self, path: str) -> httpx2.Response:
        return await self.api.client.get(f"{self.api.base}{path}", headers=self.headers)

    async def post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self.api.client.post(f"{self.api.base}{path}", json=body, headers=self.headers)

    async def patch(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self.api.client.patch(
            f"{self.api.base}{path}", json=body, headers=self.headers
        )


@pytest.fixture
async def two(api: GatewayClient, platform: Platform) -> tuple[Tenant, Tenant]:
    a = await seed_demo(platform, slug=f"iso-a-{secrets.token_hex(4)}", tenant_name="A Co")
    b = await seed_demo(platform, slug=f"iso-b-{secrets.token_hex(4)}", tenant_name="B Co")
    return Tenant(api, a), Tenant(api, b)


def not_found(resp: httpx2.Response) -> None:
    assert resp.status_code == 404, resp.text
    assert set(resp.json()["error"]) == {"code", "message", "details"}


async def test_a_shared_workflow_id_is_two_workflows(
    two: tuple[Tenant, Tenant], platform: Platform
) -> None:
    a, b = two
    shared = f"wf_shared{secrets.token_hex(4)}"
    for t, name in ((a, "A's workflow"), (b, "B's workflow")):
        wf = await platform.workflows.get(t.demo.tenant_id, t.demo.workflow_id)
        assert wf is not None
        await platform.workflows.put(wf.model_copy(update={"workflow_id": shared, "name": name}))
    assert (await a.get(f"/v1/workflows/{shared}")).json()["name"] == "A's workflow"
    resp = await a.patch(f"/v1/workflows/{shared}", {"name": "A renamed it"})
    assert resp.status_code == 200, resp.text
    assert (await b.get(f"/v1/workflows/{shared}")).json()["name"] == "B's workflow"
    assert (await a.get(f"/v1/workflows/{shared}")).json()["name"] == "A renamed it"
    # An id only B has does not exist for A: not readable, not patchable, not usable by a form.
    only_b = f"wf_onlyb{secrets.token_hex(4)}"
    wf = await platform.workflows.get(b.demo.tenant_id, b.demo.workflow_id)
    assert wf is not None
    await platform.workflows.put(wf.model_copy(update={"workflow_id": only_b}))
    not_found(await a.get(f"/v1/workflows/{only_b}"))
    not_found(await a.patch(f"/v1/workflows/{only_b}", {"name": "hijacked"}))
    assert (await b.get(f"/v1/workflows/{only_b}")).json()["name"] == wf.name
    form = await a.post(
        "/v1/forms",
        {
            "slug": f"iso-f-{secrets.token_hex(4)}",
            "name": "uses B's workflow",
            "workflow_id": only_b,
            "fields": [{"name": "email", "label": "E-mail", "type": "email", "required": True}],
        },
    )
    assert form.status_code in (404, 422), form.text
    assert only_b not in [
        w["workflow_id"] for w in (await a.get("/v1/workflows")).json()["workflows"]
    ]


async def test_a_shared_template_id_is_two_templates_with_their_own_runs(
    two: tuple[Tenant, Tenant],
) -> None:
    a, b = two
    before_b = (await b.get(f"/v1/templates/{DEMO_FUNNEL_ID}")).json()["templates"]
    resp = await a.post(f"/v1/templates/{DEMO_FUNNEL_ID}/versions", {"name": "A's v2"})
    assert resp.status_code == 201, resp.text
    version = resp.json()["version"]
    resp = await a.post(f"/v1/templates/{DEMO_FUNNEL_ID}/versions/{version}/publish", {})
    assert resp.status_code == 200, resp.text
    assert (await b.get(f"/v1/templates/{DEMO_FUNNEL_ID}")).json()["templates"] == before_b
    # B cannot publish A's versions under the shared id either: B has no such version.
    if version > len(before_b):
        not_found(await b.post(f"/v1/templates/{DEMO_FUNNEL_ID}/versions/{version}/publish", {}))

    run = await a.post(
        "/v1/runs", {"templateId": DEMO_FUNNEL_ID, "input": {"input_as_text": "isolation"}}
    )
    assert run.status_code == 202, run.text
    run_id = run.json()["runId"]
    assert (await a.get(f"/v1/runs/{run_id}")).status_code == 200
    not_found(await b.get(f"/v1/runs/{run_id}"))
    not_found(await b.get(f"/v1/runs/{run_id}/logs"))
    history = (await b.get(f"/v1/templates/{DEMO_FUNNEL_ID}/runs")).json()
    assert run_id not in str(history)
    assert run_id in str((await a.get(f"/v1/templates/{DEMO_FUNNEL_ID}/runs")).json())


async def test_form_slugs_are_global_public_names_owned_by_one_tenant(
    two: tuple[Tenant, Tenant], api: GatewayClient
) -> None:
    """A slug is a public URL (/f/{slug}), so it is global by design: B cannot take or replace
    A's, and only A lists it."""
    a, b = two
    resp = await b.post(
        "/v1/forms",
        {
            "slug": a.demo.slug,
            "name": "B tries A's slug",
            "workflow_id": b.demo.workflow_id,
            "fields": [{"name": "email", "label": "E-mail", "type": "email", "required": True}],
        },
    )
    assert resp.status_code == 409, resp.text
    public = (await api.client.get(f"{api.base}/v1/forms/{a.demo.slug}")).json()
    assert public["workflow_id"] == a.demo.workflow_id
    assert a.demo.slug not in [f["slug"] for f in (await b.get("/v1/forms")).json()["forms"]]
    assert a.demo.slug in [f["slug"] for f in (await a.get("/v1/forms")).json()["forms"]]


async def test_a_shared_chat_thread_id_is_two_leads(two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    channels = []
    for t in (a, b):
        slug = f"iso-chat-{secrets.token_hex(4)}"
        resp = await t.post(
            "/v1/chat-channels",
            {"slug": slug, "business_name": "Shop", "owner_email": "owner@example.com"},
        )
        assert resp.status_code == 201, resp.text
        channels.append(slug)
    thread = f"thr_{secrets.token_hex(8)}"
    trigger = {
        "thread_id": thread,
        "reason": "idle",
        "messages": [{"role": "user", "text": "Do you ship to Oslo?"}],  # no contact yet
    }
    resp = await a.post("/v1/leads", {**trigger, "channel": channels[0]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "missing_contact"
    state_a = await a.get(f"/v1/leads/{thread}?channel={channels[0]}")
    assert state_a.status_code == 200, state_a.text
    assert state_a.json()["triggers"] == 1
    not_found(await b.get(f"/v1/leads/{thread}?channel={channels[1]}"))
    resp = await b.post("/v1/leads", {**trigger, "channel": channels[1]})
    assert resp.json()["status"] == "missing_contact"
    assert (await b.get(f"/v1/leads/{thread}?channel={channels[1]}")).json()["triggers"] == 1
    assert (await a.get(f"/v1/leads/{thread}?channel={channels[0]}")).json()["triggers"] == 1


def photo() -> bytes:
    im = Image.new("RGB", (1000, 800), (255, 107, 53))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


async def test_jobs_and_uploads_belong_to_their_tenant(two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    data = photo()
    ticket = await a.post(
        "/v1/uploads", {"filename": "p.png", "content_type": "image/png", "size": len(data)}
    )
    assert ticket.status_code == 201, ticket.text
    t = ticket.json()
    assert t["s3_key"].startswith(f"uploads/{a.demo.tenant_id}/")
    sent = await a.api.client.post(
        t["upload"]["url"], data=t["upload"]["fields"], files={"file": ("p.png", data)}
    )
    assert sent.status_code in (200, 201, 204), sent.text
    # B cannot start a kit from A's upload.
    stolen = await b.post("/v1/jobs", {"kind": "product_marketing", "s3_key": t["s3_key"]})
    assert stolen.status_code == 422, stolen.text
    assert stolen.json()["error"]["code"] == "not_your_upload"

    resp = await a.post("/v1/jobs", {"kind": "product_marketing", "s3_key": t["s3_key"]})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    job = await a.api.wait_job(job_id, ("awaiting_confirmation", "failed", "completed"))
    assert job["status"] == "awaiting_confirmation", job["error_message"]
    # B can neither confirm A's kit nor see it in its listing.
    not_found(await b.post(f"/v1/jobs/{job_id}/confirm", {}))
    assert (await a.api.job(job_id))["status"] == "awaiting_confirmation"
    assert job_id not in str((await b.get("/v1/jobs")).json())
    assert job_id in str((await a.get("/v1/jobs?limit=100")).json())
    # A's listing cursor is not B's (a second job gives A's listing a next page).
    fields = {"name": "Ada", "email": "ada@example.com", "company": "A", "goal": "page two"}
    assert (await a.api.submit(a.demo.slug, fields)).status_code == 202
    page = (await a.get("/v1/jobs?limit=1")).json()
    assert page["next_cursor"]
    resp = await b.get(f"/v1/jobs?limit=1&cursor={page['next_cursor']}")
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "invalid_cursor"
    # A can (the 404 above was about the tenant, not the route).
    assert (await a.post(f"/v1/jobs/{job_id}/confirm", {})).status_code == 202
