"""The consumer runtime against a real SQS/SNS endpoint (moto server over HTTP by default)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.bus import EventBus
from leadmagnet.common.consumer import Consumer, ConsumerSettings, FailedMessage, MessageContext
from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.events import CloudEvent, EventData, event_type, spec_of
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.resources import Resources
from leadmagnet.common.settings import Settings
from leadmagnet.common.topology import Queue, Subscription, Topology, load_topology

pytestmark = pytest.mark.integration


@event_type("test.ping", version=1, public=False, description="test only")
class Ping(EventData):
    key: str
    behavior: str = "ok"
    seconds: float = 0


PING = spec_of(Ping).type
OTHER = spec_of(JobRequested).type


def make_topology(visibility: int = 4, max_receives: int = 3) -> Topology:
    base = load_topology()
    queue = Queue(
        consumer="tester",
        visibility_timeout_seconds=visibility,
        message_retention_seconds=3600,
        receive_wait_time_seconds=1,
        max_receive_count=max_receives,
        dlq_retention_seconds=7200,
        backoff_base_seconds=0.2,
        backoff_cap_seconds=1,
        subscriptions=[Subscription(topic="events", filter_policy={"type": [PING, OTHER]})],
    )
    return base.model_copy(update={"queues": {"tester": queue}, "tables": {}, "buckets": {}})


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, list[int]] = defaultdict(list)
        self.failures: list[FailedMessage] = []
        self.active = 0
        self.max_active = 0

    async def handle(self, ctx: MessageContext, event: CloudEvent[Any]) -> None:
        data: Ping = event.data
        self.calls[data.key].append(ctx.receive_count)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if data.seconds:
                await asyncio.sleep(data.seconds)
            if data.behavior == "fail_once" and len(self.calls[data.key]) == 1:
                raise TransientError("flaky dependency", retry_after=0.5)
            if data.behavior == "always_fail":
                raise TransientError("still down")
            if data.behavior == "crash":
                raise ZeroDivisionError("bug")
            if data.behavior == "permanent":
                raise PermanentError("bad input", code="bad_input")
        finally:
            self.active -= 1

    async def on_failure(self, failed: FailedMessage) -> None:
        self.failures.append(failed)


@pytest.fixture
def topology_prefix() -> str:
    import secrets

    return f"c{secrets.token_hex(4)}"  # a fresh queue per test (SQS purges are rate-limited)


@pytest.fixture
async def env(aws_endpoint: str, topology_prefix: str) -> AsyncIterator[dict[str, Any]]:
    settings = Settings(resource_prefix=topology_prefix, LEADMAGNET_ENV="test")
    topo = make_topology()
    async with AwsClients(settings) as aws:
        await bootstrap(aws, topo)
        res = Resources(aws, topo)
        url = await res.queue_url("tester")
        dlq = await res.queue_url("tester", dlq=True)
        yield {"aws": aws, "res": res, "url": url, "dlq": dlq, "bus": EventBus(res, service="t")}


def make_consumer(env: dict[str, Any], rec: Recorder, **overrides: Any) -> Consumer:
    config = ConsumerSettings(
        concurrency=overrides.pop("concurrency", 4),
        pollers=1,
        wait_time_seconds=1,
        backoff_base_seconds=0.2,
        backoff_cap_seconds=1,
        shutdown_grace_seconds=overrides.pop("grace", 10),
        ack_flush_seconds=0.05,
    )
    return Consumer(
        resources=env["res"],
        service="tester",
        handlers={PING: rec.handle},
        on_failure=rec.on_failure,
        config=config,
    )


async def publish(env: dict[str, Any], *events: EventData) -> None:
    bus: EventBus = env["bus"]
    await bus.publish_many(
        [
            bus.event(
                e, subject=getattr(e, "key", None) or getattr(e, "job_id", None), tenant_id="ten_t"
            )
            for e in events
        ]
    )


async def until(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def queue_depth(env: dict[str, Any], dlq: bool = False) -> tuple[int, int]:
    attrs = (
        await env["aws"].sqs.get_queue_attributes(
            QueueUrl=env["dlq" if dlq else "url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def dlq_messages(env: dict[str, Any]) -> list[dict[str, Any]]:
    resp = await env["aws"].sqs.receive_message(
        QueueUrl=env["dlq"],
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
    )
    return list(resp.get("Messages", []))


class Running:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Consumer:
        self.task = asyncio.create_task(self.consumer.run())
        await asyncio.wait_for(self.consumer.wait_ready(), 10)
        return self.consumer

    async def __aexit__(self, *exc: object) -> None:
        self.consumer.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


async def test_success_is_acknowledged_in_batches(env: dict[str, Any]) -> None:
    rec = Recorder()
    aws: AwsClients = env["aws"]
    before = dict(aws.call_counts)
    async with Running(make_consumer(env, rec, concurrency=20)):
        await publish(env, *(Ping(key=f"ok{i}") for i in range(20)))
        await until(lambda: len(rec.calls) == 20)
        await until(
            lambda: (
                aws.call_counts[("sqs", "DeleteMessageBatch")]
                > before.get(("sqs", "DeleteMessageBatch"), 0)
            )
        )
        await asyncio.sleep(0.3)
    assert all(counts == [1] for counts in rec.calls.values())
    assert await queue_depth(env) == (0, 0)
    deletes = aws.call_counts[("sqs", "DeleteMessageBatch")] - before.get(
        ("sqs", "DeleteMessageBatch"), 0
    )
    assert deletes < 20, "deletes must be batched"
    assert aws.call_counts[("sqs", "DeleteMessage")] == before.get(("sqs", "DeleteMessage"), 0)


async def test_transient_failure_is_retried_then_succeeds(env: dict[str, Any]) -> None:
    rec = Recorder()
    async with Running(make_consumer(env, rec)):
        await publish(env, Ping(key="flaky", behavior="fail_once"))
        await until(lambda: len(rec.calls["flaky"]) == 2)
        await asyncio.sleep(0.3)
    assert rec.calls["flaky"] == [1, 2]
    assert rec.failures == []
    assert await queue_depth(env) == (0, 0)


async def test_permanent_error_fails_fast_without_retry(env: dict[str, Any]) -> None:
    rec = Recorder()
    async with Running(make_consumer(env, rec)):
        await publish(env, Ping(key="bad", behavior="permanent"))
        await until(lambda: len(rec.failures) == 1)
        await asyncio.sleep(1.5)
    assert rec.calls["bad"] == [1]
    assert rec.failures[0].error.code == "bad_input"
    assert rec.failures[0].subject == "bad"
    assert not rec.failures[0].poison
    assert await queue_depth(env) == (0, 0)
    assert await queue_depth(env, dlq=True) == (0, 0)


async def test_exhausted_retries_fail_and_dead_letter(env: dict[str, Any]) -> None:
    rec = Recorder()
    async with Running(make_consumer(env, rec)):
        await publish(
            env, Ping(key="down", behavior="always_fail"), Ping(key="bug", behavior="crash")
        )
        await until(lambda: len(rec.failures) == 2, timeout=30)
    assert rec.calls["down"] == [1, 2, 3]
    assert rec.calls["bug"] == [1, 2, 3]
    reasons = {f.subject: f.error.message for f in rec.failures}
    assert reasons["down"].startswith("gave up after 3 attempts: still down")
    assert "ZeroDivisionError" in reasons["bug"]
    dead = await dlq_messages(env)
    assert len(dead) == 2
    for m in dead:
        attrs = m["MessageAttributes"]
        assert attrs["dlq_reason"]["StringValue"].startswith("gave up after 3 attempts")
        assert attrs["dlq_source_queue"]["StringValue"].endswith("-tester")
        assert json.loads(m["Body"])["type"] == PING
    assert await queue_depth(env) == (0, 0)


async def test_poison_goes_to_the_dlq_at_once_and_others_keep_flowing(env: dict[str, Any]) -> None:
    rec = Recorder()
    sqs = env["aws"].sqs
    async with Running(make_consumer(env, rec)):
        await sqs.send_message(QueueUrl=env["url"], MessageBody="{not json")
        bad_data = {
            "specversion": "1.0",
            "id": "1",
            "source": "/x",
            "type": PING,
            "subject": "job_poison",
            "tenantid": "ten_t",
            "data": {"behavior": "ok"},
        }
        await sqs.send_message(QueueUrl=env["url"], MessageBody=json.dumps(bad_data))
        await publish(env, JobRequested(job_id="job_other", tenant_id="ten_t"))  # not handled here
        await publish(env, Ping(key="fine"))
        await until(lambda: len(rec.failures) == 3 and "fine" in rec.calls)
        await asyncio.sleep(0.3)
    assert all(f.poison for f in rec.failures)
    assert all(f.receive_count == 1 for f in rec.failures)
    by_subject = {f.subject: f for f in rec.failures}
    assert "data.key" in by_subject["job_poison"].error.message
    assert "no handler" in by_subject["job_other"].error.message
    dead = await dlq_messages(env)
    assert len(dead) == 3
    assert any("not JSON" in m["MessageAttributes"]["dlq_reason"]["StringValue"] for m in dead)


async def test_heartbeat_keeps_a_long_handler_from_being_redelivered(env: dict[str, Any]) -> None:
    rec = Recorder()
    consumer = make_consumer(env, rec)
    async with Running(consumer):
        await publish(env, Ping(key="slow", seconds=9))  # visibility is 4 s
        await until(lambda: rec.calls["slow"] and rec.active == 0, timeout=30)
        await asyncio.sleep(0.5)
    assert rec.calls["slow"] == [1]
    assert consumer.stats.counts["heartbeats"] >= 3
    assert await queue_depth(env) == (0, 0)


async def test_shutdown_finishes_in_flight_and_releases_the_rest(env: dict[str, Any]) -> None:
    rec = Recorder()
    consumer = make_consumer(env, rec, concurrency=2, grace=15)
    task = asyncio.create_task(consumer.run())
    await consumer.wait_ready()
    await publish(env, *(Ping(key=f"job{i}", seconds=2) for i in range(2)))
    await until(lambda: rec.active == 2)
    await publish(env, *(Ping(key=f"later{i}") for i in range(4)))
    started = time.monotonic()
    consumer.stop()
    await asyncio.wait_for(task, 30)
    elapsed = time.monotonic() - started
    assert elapsed < 15
    assert rec.calls["job0"] == [1]
    assert rec.calls["job1"] == [1]
    assert not any(k.startswith("later") for k in rec.calls)
    # The unstarted messages are visible again at once, not after the visibility timeout.
    visible, invisible = await queue_depth(env)
    assert (visible, invisible) == (4, 0)
    assert rec.max_active <= 2


async def test_concurrency_is_bounded(env: dict[str, Any]) -> None:
    rec = Recorder()
    async with Running(make_consumer(env, rec, concurrency=3)):
        await publish(env, *(Ping(key=f"c{i}", seconds=0.5) for i in range(9)))
        await until(lambda: len(rec.calls) == 9 and rec.active == 0, timeout=30)
    assert rec.max_active == 3
