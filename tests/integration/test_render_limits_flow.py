"""A tenant's template is code in the shared renderer: a hostile one fails its own job with a
clear reason, and another tenant's job still completes."""

from __future__ import annotations

import secrets

import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient

pytestmark = pytest.mark.integration

FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "more leads"}
# 10^10 loop iterations: only the renderer's CPU limit ends this render.
SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


async def submit(api: GatewayClient, demo: Demo) -> str:
    resp = await api.submit(demo.slug, FIELDS)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def test_hostile_template_fails_its_job_while_another_tenant_completes(
    api: GatewayClient, platform: Platform, demo: Demo
) -> None:
    hostile = await seed_demo(
        platform, slug=f"spin-{secrets.token_hex(4)}", tenant_name="Spin Co", template_html=SPIN
    )
    hostile_job = await submit(api, hostile)
    benign_job = await submit(api, demo)

    benign = await api.wait_job(benign_job)
    assert benign["status"] == "completed", benign
    failed = await api.wait_job(hostile_job)
    assert failed["status"] == "failed", failed
    assert failed["error_code"] == "render_limit"
    assert "template rendering exceeded" in failed["error_message"]
