"""The lead-magnet pipeline end to end on the embedded stack, with what it costs.

One moto server (counting every AWS API call it serves), the five services as real processes
with the offline provider (the figures measure the platform, not an LLM). Measured in one run:

- footprint: each service's start-to-ready time and idle RSS, then its peak RSS under load;
- pipeline: N jobs submitted over HTTP with bounded client concurrency, completions observed the
  way another system would (an SQS queue subscribed to ``job.completed``);
- AWS calls per completed job by service and operation, and what batching saved;
- floor: the same endpoint's own cost for the same hops, a bare publish → receive → delete
  chain of three queues with nothing else, on the same machine, right after;
- then every other flow (flows.py) on the same stack, each in its own measurement window: calls
  by service and operation, CPU per service (measure.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from leadmagnet.cli.demo import seed_demo
from leadmagnet.cli.devstack import SERVICES, ServiceStack
from leadmagnet.common.aws import SERVICE_VARIABLE, AwsClients
from leadmagnet.common.platform import Platform
from leadmagnet.testing.moto_server import (
    AwsCallCounter,
    apply_env,
    aws_env,
    free_port,
    moto_server,
)
from leadmagnet.testing.subscriber import external_subscriber

from .common import fresh_topology, peak_rss_mib, rss_mib, tree_memory_mib
from .flows import Client, demo_funnel_images, gate_workflow, run_flow
from .measure import OBSERVER, Window, cpu_seconds, platform_calls, platform_units

FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "bench"}
HOPS = 3  # job.requested -> reporter, report.generated -> renderer, job.completed -> notifier
# Jobs of each other flow after the lead-magnet run (sized for ``make bench`` on 2 cores).
FLOW_JOBS = {"product_kit": 10, "funnel_run": 10, "chat_lead": 20, "gated_job": 20}


async def _collect(aws: AwsClients, queue: str, expected: int, done: dict[str, float]) -> None:
    deadline = time.monotonic() + 900
    while len(done) < expected and time.monotonic() < deadline:
        resp = await aws.sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        now = time.perf_counter()
        messages = resp.get("Messages", [])
        for m in messages:
            done.setdefault(json.loads(m["Body"])["data"]["job_id"], now)
        if messages:
            await aws.sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )


async def floor(aws: AwsClients, messages: int, concurrency: int) -> float:
    """Seconds for ``messages`` to cross HOPS bare topic → queue hops (publish, receive,
    delete; one publish per message per hop, deletes in batches, as the services do)."""
    tag = secrets.token_hex(3)
    topics, queues = [], []
    for hop in range(HOPS):
        topic = (await aws.sns.create_topic(Name=f"floor-{tag}-{hop}"))["TopicArn"]
        queue = (await aws.sqs.create_queue(QueueName=f"floor-{tag}-{hop}"))["QueueUrl"]
        arn = (await aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        await aws.sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        topics.append(topic)
        queues.append(queue)
    finished: list[float] = []

    async def stage(hop: int) -> None:
        while len(finished) < messages:
            resp = await aws.sqs.receive_message(
                QueueUrl=queues[hop], MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            batch = resp.get("Messages", [])
            for m in batch:
                if hop + 1 < HOPS:
                    await aws.sns.publish(TopicArn=topics[hop + 1], Message=m["Body"])
                else:
                    finished.append(time.perf_counter())
            if batch:
                await aws.sqs.delete_message_batch(
                    QueueUrl=queues[hop],
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(batch)
                    ],
                )

    workers = [asyncio.create_task(stage(h)) for h in range(HOPS)]
    gate = asyncio.Semaphore(concurrency)

    async def publish(i: int) -> None:
        async with gate:
            await aws.sns.publish(TopicArn=topics[0], Message=json.dumps({"n": i}))

    started = time.perf_counter()
    await asyncio.gather(*(publish(i) for i in range(messages)))
    await asyncio.wait_for(asyncio.gather(*workers), timeout=600)
    return max(finished) - started


async def run(
    jobs: int, concurrency: int, flow_jobs: dict[str, int] | None = None
) -> dict[str, Any]:
    """The lead-magnet pipeline with ``jobs`` jobs, then each of ``flow_jobs`` (flow name ->
    jobs; default FLOW_JOBS) on the same stack."""
    flow_jobs = FLOW_JOBS if flow_jobs is None else flow_jobs
    counter = AwsCallCounter()
    with moto_server(counter=counter) as endpoint, tempfile.TemporaryDirectory() as tmp:
        apply_env(aws_env(endpoint))
        settings = await fresh_topology("bench")
        env = {
            "RESOURCE_PREFIX": settings.resource_prefix,
            "LEADMAGNET_ENV": "test",
            "LLM_PROVIDER": "offline",
            "LOG_LEVEL": "WARNING",
            "ALLOW_PRIVATE_TARGETS": "true",
            # one form takes the whole load: its per-minute quota must not be what is measured
            "FORM_SUBMITS_PER_MINUTE": "6000",
        }
        stack = ServiceStack(env, Path(tmp) / "logs", gateway_port=free_port())
        # The gateway the benchmark polls while it waits: its calls are tagged apart.
        observer = ServiceStack(env, Path(tmp) / "observer", gateway_port=free_port())
        ready_seconds: dict[str, float] = {}
        startup_cpu_ms: dict[str, float] = {}
        flows: dict[str, dict[str, Any]] = {}
        try:
            for name in SERVICES:  # one at a time: each one's own start-to-ready time
                t0 = time.perf_counter()
                stack.start(name)
                await asyncio.to_thread(stack.wait_ready, [name])
                ready_seconds[name] = time.perf_counter() - t0
                startup_cpu_ms[name] = 1000 * cpu_seconds(stack.procs[name].proc.pid)
            observer.start("gateway", {SERVICE_VARIABLE: OBSERVER})
            await asyncio.to_thread(observer.wait_ready)
            await asyncio.sleep(3)
            idle_rss = {n: rss_mib(stack.procs[n].proc.pid) for n in SERVICES}
            window = Window(stack, counter, SERVICES)
            async with Platform.open(settings, "bench") as platform, AwsClients(settings) as aws:
                demo = await seed_demo(platform, slug=f"bench-{secrets.token_hex(3)}")
                queue = await external_subscriber(
                    aws,
                    platform,
                    event_type="io.leadmagnet.job.completed",
                    tenant_id=demo.tenant_id,
                    name="bench",
                )
                submitted: dict[str, float] = {}
                done: dict[str, float] = {}
                gate = asyncio.Semaphore(concurrency)
                async with httpx2.AsyncClient(timeout=30) as http:

                    async def submit_one() -> None:
                        async with gate:
                            t0 = time.perf_counter()
                            resp = await http.post(
                                f"{stack.gateway_url}/v1/forms/{demo.slug}/submit", json=FIELDS
                            )
                            resp.raise_for_status()
                            submitted[resp.json()["job_id"]] = t0

                    window.start()
                    started = time.perf_counter()
                    collector = asyncio.create_task(_collect(aws, queue, jobs, done))
                    await asyncio.gather(*(submit_one() for _ in range(jobs)))
                    submit_seconds = time.perf_counter() - started
                    await collector
                    elapsed = max(done.values()) - started if done else float("nan")
                    lead_magnet = window.result(jobs, len(done), elapsed)
                    peak_rss = {n: peak_rss_mib(stack.procs[n].proc.pid) for n in SERVICES}
                    loaded = {n: tree_memory_mib(stack.procs[n].proc.pid) for n in SERVICES}
                    for flow, n in flow_jobs.items():
                        # a tenant of its own per flow (the gate changes its workflow)
                        own = await seed_demo(
                            platform, slug=f"{flow.replace('_', '')[:6]}-{secrets.token_hex(3)}"
                        )
                        client = Client(http, stack.gateway_url, observer.gateway_url, own)
                        if flow == "gated_job":
                            await gate_workflow(client)
                        flows[flow] = await run_flow(client, window, flow, n, concurrency)
        finally:
            try:
                stack.stop_all()
            finally:
                observer.stop_all()
        async with AwsClients(settings) as aws:
            floor_seconds = await floor(aws, len(done), concurrency)
    calls, batched = platform_calls(lead_magnet)
    latencies = sorted(done[j] - submitted[j] for j in done if j in submitted)
    return {
        **lead_magnet,
        "concurrency": concurrency,
        "submit_rate": jobs / submit_seconds,
        "throughput": len(done) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1],
        "floor_seconds": floor_seconds,
        "floor_ratio": elapsed / floor_seconds,
        "ready_seconds": ready_seconds,
        "startup_cpu_ms": startup_cpu_ms,
        "idle_rss_mib": idle_rss,
        "peak_rss_mib": peak_rss,
        "loaded_memory_mib": loaded,
        "calls": dict(sorted(calls.items())),
        "units": dict(sorted(platform_units(lead_magnet).items())),
        "batched_entries": dict(sorted(batched.items())),
        "flows": flows,
        "funnel_images": demo_funnel_images(),
    }
