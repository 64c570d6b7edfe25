"""GET /v1/jobs/{id}/events: the job's timeline as Server-Sent Events, in order, ending after
the terminal event, resumable with Last-Event-ID (what the job page's EventSource relies on)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.testing.client import GatewayClient

pytestmark = pytest.mark.integration


async def read_stream(
    api: GatewayClient, job_id: str, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(data messages, the raw event names seen) until the server ends the stream."""
    messages: list[dict[str, Any]] = []
    names: list[str] = []
    url = f"{api.base}/v1/jobs/{job_id}/events"
    async with api.client.stream("GET", url, headers=headers or {}, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        async for line in resp.aiter_lines():
            if line == "":
                if "data" in block and block.get("event") is None:
                    data = json.loads(block["data"])
                    assert block["id"] == str(data["seq"])
                    messages.append(data)
                if "event" in block:
                    names.append(block["event"])
                block = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                block[key] = value.removeprefix(" ")
    return messages, names


async def test_stream_is_ordered_ends_and_resumes(api: GatewayClient, demo: Demo) -> None:
    resp = await api.submit(
        demo.slug, {"name": "Ada", "email": "ada@example.com", "goal": "stream it"}
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]

    live, names = await read_stream(api, job_id)  # opened while the job runs
    seqs = [m["seq"] for m in live]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert live[0]["type"] == "job.created"
    assert live[-1]["type"] == "job.completed"
    assert live[-1]["progress"] == 100
    progress = [m["progress"] for m in live]
    assert progress == sorted(progress)  # never goes backwards
    assert names == ["end"]

    middle = live[len(live) // 2]["seq"]
    resumed, _ = await read_stream(api, job_id, {"last-event-id": str(middle)})
    assert [m["seq"] for m in resumed] == [s for s in seqs if s > middle]
    assert resumed[-1]["progress"] == 100

    after_end, names = await read_stream(api, job_id, {"last-event-id": str(seqs[-1])})
    assert after_end == []
    assert names == ["end"]

    missing = await api.client.get(f"{api.base}/v1/jobs/job_nope/events")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "job_not_found"
    bad = await api.client.get(f"{api.base}/v1/jobs/{job_id}/events", params={"after": "-1"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"] == "query.after"
