"""Traces, in-process with an in-memory exporter: the context rides in the envelope from a
producer to the consumer's span, model calls carry tokens and cost, AWS calls get CLIENT spans,
and log lines carry the trace id."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import structlog
from aiobotocore.stub import AioStubber
from botocore.exceptions import ClientError
from opentelemetry import trace as otel_trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, get_current_span

from leadmagnet.common import jobflow, tracing
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bus import EventBus
from leadmagnet.common.consumer import Consumer, MessageContext
from leadmagnet.common.errors import PermanentError
from leadmagnet.common.events import CloudEvent, spec_of
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.jobflow import generate_text
from leadmagnet.common.logging import configure_logging, get_logger
from leadmagnet.common.models import Job
from leadmagnet.common.providers.base import CallCost, TextRequest, TextResult, Usage
from leadmagnet.common.settings import Settings
from leadmagnet.common.topology import load_topology


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)
    provider.shutdown()


def one(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [s for s in spans.get_finished_spans() if s.name == name]
    return found


JOB_REQUESTED = spec_of(JobRequested).type


def requested(job_id: str = "job_1") -> JobRequested:
    return JobRequested(
        job_id=job_id, tenant_id="ten_a", kind="lead_magnet", workflow_id="wf", submission_id="s"
    )


class FakeAcker:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, receipt_handle: str) -> None:
        self.deleted.append(receipt_handle)

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        raise AssertionError("the handler succeeded: nothing to retry")


def reporter_consumer(handler: Any) -> Consumer:
    """The reporter's real consumer runtime over fake AWS (no calls are made)."""
    resources: Any = SimpleNamespace(
        aws=SimpleNamespace(sqs=None),
        topology=load_topology(),
        settings=Settings(resource_prefix="trace-test"),
    )
    consumer = Consumer(resources=resources, service="reporter", handlers={JOB_REQUESTED: handler})
    consumer._acker = FakeAcker()  # type: ignore[assignment]
    return consumer


async def test_the_producers_context_rides_in_the_envelope_to_the_consumers_span(
    spans: InMemorySpanExporter,
) -> None:
    bus = EventBus(SimpleNamespace(aws=SimpleNamespace(sns=None)), service="gateway")  # type: ignore[arg-type]
    with tracing.span("POST /v1/forms/{slug}/submit", kind=SpanKind.SERVER) as producer:
        event = bus.event(requested(), subject="job_1", tenant_id="ten_a")
    body = event.model_dump_json()
    assert (
        json.loads(body)["traceparent"].split("-")[1]
        == f"{producer.get_span_context().trace_id:032x}"
    )

    seen: list[Any] = []

    async def handler(ctx: MessageContext, received: CloudEvent[Any]) -> None:
        seen.append(get_current_span().get_span_context())

    consumer = reporter_consumer(handler)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1", "Body": body}
    await consumer._dispatch(MessageContext(message, 30))

    consumed = one(spans, "process io.leadmagnet.job.requested")
    assert consumed.kind is SpanKind.CONSUMER
    assert consumed.context is not None
    assert consumed.parent is not None
    assert consumed.context.trace_id == producer.get_span_context().trace_id
    assert consumed.parent.span_id == producer.get_span_context().span_id
    assert consumed.attributes is not None
    assert consumed.attributes["messaging.destination.name"] == "trace-test-reporter"
    assert consumed.attributes["cloudevents.event_id"] == event.id
    assert seen == [consumed.context]  # the handler runs inside it
    assert consumer._acker.deleted == ["rh-1"]  # type: ignore[union-attr]


async def test_an_event_published_outside_any_span_starts_a_trace_of_its_own(
    spans: InMemorySpanExporter,
) -> None:
    bus = EventBus(SimpleNamespace(aws=SimpleNamespace(sns=None)), service="gateway")  # type: ignore[arg-type]
    event = bus.event(requested(), subject="job_1", tenant_id="ten_a")
    assert event.traceparent is None
    assert "traceparent" in event.model_dump()  # the field is there, empty: no context to carry

    async def handler(ctx: MessageContext, received: CloudEvent[Any]) -> None:
        return None

    message = {"MessageId": "m-2", "ReceiptHandle": "rh-2", "Body": event.model_dump_json()}
    await reporter_consumer(handler)._dispatch(MessageContext(message, 30))
    consumed = one(spans, "process io.leadmagnet.job.requested")
    assert consumed.parent is None


async def test_a_failing_handler_marks_its_consumer_span_failed(
    spans: InMemorySpanExporter,
) -> None:
    async def handler(ctx: MessageContext, received: CloudEvent[Any]) -> None:
        raise PermanentError("template is gone", code="template_unavailable")

    consumer = reporter_consumer(handler)
    reported: list[Any] = []

    async def on_failure(failed: Any) -> None:
        reported.append(failed)

    consumer.on_failure = on_failure
    bus = EventBus(SimpleNamespace(aws=SimpleNamespace(sns=None)), service="gateway")  # type: ignore[arg-type]
    event = bus.event(requested(), subject="job_1", tenant_id="ten_a")
    message = {"MessageId": "m-3", "ReceiptHandle": "rh-3", "Body": event.model_dump_json()}
    await consumer._dispatch(MessageContext(message, 30))
    consumed = one(spans, "process io.leadmagnet.job.requested")
    assert consumed.status.status_code is StatusCode.ERROR
    assert consumed.status.description == "template is gone"
    assert len(reported) == 1


def call_cost(**usage: int) -> CallCost:
    return CallCost(
        provider="openai",
        model="gpt-test",
        operation="text",
        request_id="req_1",
        usage=Usage(**usage),
        cost_micros=1234,
        price_version="test",
    )


class FakeProvider:
    name = "openai"

    async def generate_text(self, request: TextRequest) -> TextResult:
        return TextResult(
            text="hi", cost=call_cost(input_tokens=100, cached_input_tokens=20, output_tokens=50)
        )


class ModelPlatform:
    service = "reporter"

    def __init__(self) -> None:
        self.charged: list[CallCost] = []
        self.jobs = self

    async def add_cost(self, job_id: str, cost: CallCost) -> None:
        self.charged.append(cost)


async def test_a_model_call_span_has_provider_model_tokens_and_cost(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_slot(*args: Any) -> Any:
        return await args[-1]()  # tenants' model slots are another test's subject

    monkeypatch.setattr(jobflow, "within_model_slot", no_slot)
    platform: Any = ModelPlatform()
    with tracing.span("stage report") as stage:
        await generate_text(
            platform,
            Job(job_id="job_1", tenant_id="ten_1"),
            TextRequest(system="s", prompt="p"),
            provider=FakeProvider(),  # type: ignore[arg-type]
        )
    call = one(spans, "chat gpt-test")
    assert call.kind is SpanKind.CLIENT
    assert call.parent is not None
    assert call.parent.span_id == stage.get_span_context().span_id
    assert call.attributes is not None
    assert dict(call.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-test",
        "gen_ai.response.id": "req_1",
        "gen_ai.usage.input_tokens": 120,  # uncached + cached input
        "gen_ai.usage.output_tokens": 50,
        "leadmagnet.usage.cached_input_tokens": 20,
        "leadmagnet.usage.reasoning_tokens": 0,
        "leadmagnet.cost_micros": 1234,
        "leadmagnet.price_version": "test",
        "leadmagnet.job_id": "job_1",
    }


async def test_aws_calls_inside_a_traced_job_get_client_spans_and_others_none(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    async with AwsClients(Settings()) as aws:
        with AioStubber(aws.sqs) as stub:
            stub.add_response("get_queue_url", {"QueueUrl": "https://sqs/q"}, {"QueueName": "q"})
            stub.add_response("get_queue_url", {"QueueUrl": "https://sqs/q"}, {"QueueName": "q"})
            stub.add_client_error("get_queue_url", "AWS.SimpleQueueService.NonExistentQueue")
            await aws.sqs.get_queue_url(QueueName="q")  # an idle poll: no trace of its own
            with tracing.span("stage report") as stage:
                await aws.sqs.get_queue_url(QueueName="q")
                with pytest.raises(ClientError):
                    await aws.sqs.get_queue_url(QueueName="gone")
    calls = [s for s in spans.get_finished_spans() if s.name == "SQS.GetQueueUrl"]
    assert len(calls) == 2
    for call in calls:
        assert call.kind is SpanKind.CLIENT
        assert call.parent is not None
        assert call.parent.span_id == stage.get_span_context().span_id
        assert call.attributes is not None
        assert call.attributes["rpc.system"] == "aws-api"
    assert calls[0].status.status_code is StatusCode.UNSET
    assert calls[1].status.status_code is StatusCode.ERROR
    assert calls[1].attributes is not None
    assert calls[1].attributes["http.response.status_code"] == 400


def test_log_lines_carry_the_current_trace_and_span_ids(
    spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = structlog.get_config()
    try:
        configure_logging("test", "INFO", "json")
        log = get_logger()
        capsys.readouterr()
        log.info("outside.any.span")
        with tracing.span("stage report") as stage:
            log.info("inside.a.span")
    finally:  # the other tests keep the logging they had
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()
    outside, inside = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert "trace_id" not in outside
    ids = stage.get_span_context()
    assert inside["trace_id"] == f"{ids.trace_id:032x}"
    assert inside["span_id"] == f"{ids.span_id:016x}"


def test_file_exporter_writes_one_json_line_per_span_with_the_service_name(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "reporter.traces.jsonl"
    settings = Settings(traces_exporter="file", traces_file=path)
    monkeypatch.setattr(otel_trace, "set_tracer_provider", lambda provider: None)
    tracing.setup_tracing("reporter", settings)
    try:
        with tracing.span("stage report", {"leadmagnet.job_id": "job_1"}):
            pass
    finally:
        tracing.shutdown_tracing()
    (line,) = path.read_text().splitlines()
    doc = json.loads(line)
    assert doc["name"] == "stage report"
    assert doc["resource"]["attributes"]["service.name"] == "reporter"
    assert doc["attributes"]["leadmagnet.job_id"] == "job_1"


def test_tracing_off_is_the_default_and_loads_no_sdk() -> None:
    """Services start fast: without an exporter only the (light) API is imported."""
    code = (
        "import sys\n"
        "from leadmagnet.common.service import run_worker\n"
        "from leadmagnet.common.settings import Settings\n"
        "from leadmagnet.common.tracing import setup_tracing\n"
        "setup_tracing('reporter', Settings())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout


class OtlpReceiver(BaseHTTPRequestHandler):
    """A local OTLP/HTTP endpoint: keeps each export request's spans."""

    received: ClassVar[list[tuple[str, str]]] = []  # (service.name, span name)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.received.extend((service, s.name) for s in scope_spans.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_otlp_export_reaches_the_endpoint_and_is_flushed_on_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OtlpReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setattr(otel_trace, "set_tracer_provider", lambda provider: None)
        OtlpReceiver.received.clear()
        tracing.setup_tracing("notifier", Settings(traces_exporter="otlp"))
        with tracing.span("stage webhook"):
            pass
        assert OtlpReceiver.received == []  # batched, not sent span by span
        tracing.shutdown_tracing()  # what a service does once drained
        assert OtlpReceiver.received == [("notifier", "stage webhook")]
    finally:
        tracing.shutdown_tracing()
        server.shutdown()
        server.server_close()
