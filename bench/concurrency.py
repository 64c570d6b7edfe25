"""How well one reporter process overlaps slow LLM calls.

A local wire-format server answers every call after ``llm_seconds``; one reporter process runs
at ``CONSUMER_CONCURRENCY = C``. The ideal is C / llm_seconds jobs per second. The backlog is
enqueued before the reporter starts (so arrivals are not the limit), and a job counts when its
``report.generated`` event has reached the renderer's queue (report stored, job updated, event
published); the renderer is not running, so nothing drains that queue.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from leadmagnet.cli.demo import seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.ids import new_job_id, random_id
from leadmagnet.common.models import Job, Submission
from leadmagnet.common.platform import Platform
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.moto_server import (
    AwsCallCounter,
    apply_env,
    aws_env,
    free_port,
    moto_server,
)

from .common import fresh_topology, peak_rss_mib, reporter_env
from .measure import cpu_seconds


async def backlog(platform: Platform, jobs: int, name: str = "conc") -> tuple[str, list[str]]:
    """A new tenant's ``jobs`` lead-magnet jobs, their ``job.requested`` published at once:
    (tenant id, job ids). Built as the gateway builds them (the workflow's revision on the job,
    the submission's fields on the event)."""
    demo = await seed_demo(platform, slug=f"{name}-{secrets.token_hex(3)}")
    workflow = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert workflow is not None
    events = []
    job_ids = []
    for i in range(jobs):
        job_id = new_job_id()
        job_ids.append(job_id)
        submission = Submission(
            submission_id=random_id("sub"),
            tenant_id=demo.tenant_id,
            form_slug=demo.slug,
            workflow_id=demo.workflow_id,
            job_id=job_id,
            fields={"name": f"Lead {i}", "email": f"l{i}@example.com", "goal": "concurrency"},
        )
        await platform.submissions.put(submission)
        await platform.jobs.create(
            Job(
                job_id=job_id,
                tenant_id=demo.tenant_id,
                workflow_id=demo.workflow_id,
                workflow_rev=workflow.updated_at.isoformat(),
                submission_id=submission.submission_id,
            )
        )
        events.append(
            platform.bus.event(
                JobRequested(
                    job_id=job_id,
                    tenant_id=demo.tenant_id,
                    workflow_id=demo.workflow_id,
                    submission_id=submission.submission_id,
                    fields=submission.fields,
                ),
                subject=job_id,
                tenant_id=demo.tenant_id,
            )
        )
    await platform.bus.publish_many(events)
    return demo.tenant_id, job_ids


async def _depth(platform: Platform, queue: str) -> int:
    attrs = await platform.aws.sqs.get_queue_attributes(
        QueueUrl=await platform.resources.queue_url(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


async def run(jobs: int = 192, concurrency: int = 64, llm_seconds: float = 2.0) -> dict[str, Any]:
    counter = AwsCallCounter()
    with (
        moto_server(counter=counter) as endpoint,
        FakeLLMServer() as llm,
        tempfile.TemporaryDirectory() as tmp,
    ):
        apply_env(aws_env(endpoint))
        llm.set_delay(llm_seconds)
        settings = await fresh_topology("conc")
        env = reporter_env(settings, llm.base_url, concurrency)
        async with Platform.open(settings, "bench") as platform:
            await backlog(platform, jobs)
            counter.reset()  # the backlog's writes are the harness's, not the reporter's
            stack = ServiceStack(env, Path(tmp) / "logs", gateway_port=free_port())
            try:
                stack.start("reporter")
                deadline = time.monotonic() + 600
                while await _depth(platform, "renderer") < jobs:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the reporter did not finish the backlog")
                    await asyncio.sleep(0.2)
                finished = time.time()
                peak = peak_rss_mib(stack.procs["reporter"].proc.pid)
                reporter_cpu = cpu_seconds(stack.procs["reporter"].proc.pid)  # since its start
                calls, _, endpoint_cpu = counter.caller_snapshot()
            finally:
                stack.stop_all()
        stats = llm.stats()
    first_call = min(r["at"] for r in stats["requests"])
    elapsed = finished - first_call
    achieved = jobs / elapsed
    ideal = concurrency / llm_seconds
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "llm_seconds": llm_seconds,
        "elapsed": elapsed,
        "achieved": achieved,
        "ideal": ideal,
        "fraction": achieved / ideal,
        "max_in_flight": stats["max_concurrent"],
        "peak_rss_mib": peak,
        "reporter_cpu_ms_per_job": 1000 * reporter_cpu / jobs,
        "moto_cpu_ms_per_job": 1000 * endpoint_cpu.get("reporter", 0.0) / jobs,
        "reporter_calls_per_job": {
            f"{service}:{operation}": n / jobs
            for (caller, service, operation), n in sorted(calls.items())
            if caller == "reporter"
        },
    }
