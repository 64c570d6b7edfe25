"""One tenant floods, another submits: how long the other waits, with and without the
per-tenant model-call limit.

A wire-format LLM server answers each call after ``llm_seconds``; one reporter process at
``CONSUMER_CONCURRENCY = C``. Tenant A's backlog of ``flood`` jobs is enqueued first, tenant B's
``quiet`` jobs right after. A job counts when its report is written (``report.generated`` in its
timeline); the renderer is not running. Run twice on fresh resources: A limited to
``limit`` model calls at once, then A allowed C (the limit out of the way).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.tenants import TenantLimits
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.moto_server import apply_env, aws_env, free_port, moto_server

from .common import fresh_topology, reporter_env
from .concurrency import backlog


async def _written(platform: Platform, job_ids: list[str]) -> dict[str, float]:
    """Job id → when its report was written (epoch seconds), for the jobs that have one."""
    done: dict[str, float] = {}
    for job_id in job_ids:
        for entry in await platform.jobs.timeline(job_id):
            if entry.type == "report.generated":
                done[job_id] = entry.at.timestamp()
    return done


async def scenario(
    limit: int, flood: int, quiet: int, concurrency: int, llm_seconds: float
) -> dict[str, Any]:
    with (
        moto_server() as endpoint,
        FakeLLMServer() as llm,
        tempfile.TemporaryDirectory() as tmp,
    ):
        apply_env(aws_env(endpoint))
        llm.set_delay(llm_seconds)
        settings = await fresh_topology("flood")
        env = {
            **reporter_env(settings, llm.base_url, concurrency),
            "TENANT_BUSY_RETRY_SECONDS": "1",
        }
        async with Platform.open(settings, "bench") as platform:
            flooder, flood_ids = await backlog(platform, flood, "flood")
            await platform.tenants.set_limits(flooder, TenantLimits(model_concurrency=limit))
            _, quiet_ids = await backlog(platform, quiet, "quiet")
            enqueued = time.time()
            stack = ServiceStack(env, Path(tmp) / "logs", gateway_port=free_port())
            try:
                stack.start("reporter")
                deadline = time.monotonic() + 900
                while True:
                    done = await _written(platform, flood_ids + quiet_ids)
                    if len(done) == flood + quiet:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{len(done)} of {flood + quiet} reports written")
                    await asyncio.sleep(0.5)
            finally:
                stack.stop_all()
    quiet_waits = sorted(done[j] - enqueued for j in quiet_ids)
    return {
        "limit": limit,
        "flood": flood,
        "quiet": quiet,
        "concurrency": concurrency,
        "llm_seconds": llm_seconds,
        "quiet_p50": statistics.median(quiet_waits),
        "quiet_max": quiet_waits[-1],
        "flood_drained": max(done[j] for j in flood_ids) - enqueued,
        "flood_floor": flood / limit * llm_seconds,
    }


async def run(
    flood: int = 48, quiet: int = 4, concurrency: int = 8, limit: int = 2, llm_seconds: float = 1
) -> dict[str, Any]:
    limited = await scenario(limit, flood, quiet, concurrency, llm_seconds)
    unlimited = await scenario(concurrency, flood, quiet, concurrency, llm_seconds)
    return {"limited": limited, "unlimited": unlimited}
