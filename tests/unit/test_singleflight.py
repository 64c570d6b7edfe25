"""Concurrent identical reads share one call; its answer or error reaches every caller, a
cancelled caller does not cancel it for the others, and a later call reads again. And where
the stores use it: a workflow's revision, a tenant's limits (moto)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

import pytest

from leadmagnet.cli.demo import seed_demo
from leadmagnet.common.platform import Platform
from leadmagnet.common.singleflight import SingleFlight


class Reader:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"answer {self.calls}"


async def test_concurrent_callers_share_one_read_and_a_later_call_reads_again() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    callers = [asyncio.ensure_future(flights.run("k", reader)) for _ in range(5)]
    other = asyncio.ensure_future(flights.run("other key", reader))
    await asyncio.sleep(0)
    reader.release.set()
    assert await asyncio.gather(*callers) == ["answer 1"] * 5
    assert await other == "answer 2"
    assert reader.calls == 2
    assert await flights.run("k", reader) == "answer 3"


async def test_an_error_reaches_every_caller_and_is_not_kept() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    reader.fail = RuntimeError("throttled")
    callers = [asyncio.ensure_future(flights.run("k", reader)) for _ in range(3)]
    await asyncio.sleep(0)
    reader.release.set()
    for caller in callers:
        with pytest.raises(RuntimeError, match="throttled"):
            await caller
    assert reader.calls == 1
    reader.fail = None
    assert await flights.run("k", reader) == "answer 2"


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    first = asyncio.ensure_future(flights.run("k", reader))
    second = asyncio.ensure_future(flights.run("k", reader))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    reader.release.set()
    assert await second == "answer 1"
    assert reader.calls == 1


def counted(platform: Platform, before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    now = Counter(platform.aws.call_counts)
    now.subtract(before)
    return +now


async def test_concurrent_first_reads_of_a_workflow_revision_share_one_read(
    platform: Platform,
) -> None:
    """A process's first jobs of a workflow all miss its cache at once: callers asking for the
    same revision share one GetItem; another revision, and the current one, are read apart."""
    demo = await seed_demo(platform, slug=f"rev-{secrets.token_hex(4)}")
    workflow = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert workflow is not None
    rev = workflow.updated_at.isoformat()
    fresh = Platform(platform.aws, "tests")  # as a process that has read nothing yet
    before = Counter(platform.aws.call_counts)
    read = await asyncio.gather(
        *(fresh.workflows.at(demo.tenant_id, demo.workflow_id, rev) for _ in range(5)),
        fresh.workflows.at(demo.tenant_id, demo.workflow_id, "2000-01-01T00:00:00+00:00"),
        fresh.workflows.at(demo.tenant_id, demo.workflow_id, None),
    )
    assert counted(platform, before) == {("dynamodb", "GetItem"): 3}
    assert all(w is not None and w.workflow_id == demo.workflow_id for w in read)
    before = Counter(platform.aws.call_counts)
    await fresh.workflows.at(demo.tenant_id, demo.workflow_id, rev)  # kept: no read
    assert counted(platform, before) == {}


async def test_jobs_that_find_a_tenants_limits_expired_together_share_one_read(
    platform: Platform,
) -> None:
    """``recent_limits``: concurrent callers of an expired (or never read) entry share one
    GetItem; a change made by this process is seen by the next call."""
    from leadmagnet.common.stores.tenants import TenantLimits

    demo = await seed_demo(platform, slug=f"lim-{secrets.token_hex(4)}")
    tenants = Platform(platform.aws, "tests").tenants  # as a process that has read nothing yet
    before = Counter(platform.aws.call_counts)
    read = await asyncio.gather(*(tenants.recent_limits(demo.tenant_id, 60) for _ in range(5)))
    assert counted(platform, before) == {("dynamodb", "GetItem"): 1}
    assert len({r.model_dump_json() for r in read}) == 1
    await tenants.set_limits(demo.tenant_id, TenantLimits(model_concurrency=3))
    assert (await tenants.recent_limits(demo.tenant_id, 60)).model_concurrency == 3
