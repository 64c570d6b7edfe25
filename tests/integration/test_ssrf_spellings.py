"""The gateway (in the ALLOW_PRIVATE_TARGETS mode `make run` uses) refuses every spelling of the
cloud metadata address when a webhook or gate call is created."""

from __future__ import annotations

import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.testing.client import GatewayClient

pytestmark = pytest.mark.integration

METADATA_SPELLINGS = [
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "169.254.43518",
    "[::ffff:169.254.169.254]",
    "[64:ff9b::a9fe:a9fe]",
    "169.254.170.2",
]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
async def test_metadata_spellings_are_refused_at_creation(
    api: GatewayClient, demo: Demo, host: str
) -> None:
    auth = {"authorization": f"Bearer {demo.api_key}"}
    base = {"name": "w", "instructions": "x", "template_id": demo.template_id}
    url = f"http://{host}/latest/meta-data/"
    webhook = await api.client.post(
        f"{api.base}/v1/workflows", json={**base, "webhook_url": url}, headers=auth
    )
    assert webhook.status_code == 422, webhook.text
    assert webhook.json()["error"]["code"] == "invalid_webhook_url"
    assert "metadata" in webhook.json()["error"]["message"]
    gate = {"external_id_field": "company", "calls": [{"name": "meta", "url": url}]}
    resp = await api.client.post(
        f"{api.base}/v1/workflows", json={**base, "await_callback": gate}, headers=auth
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["details"][0]["loc"] == "body.await_callback.calls[0].url"
