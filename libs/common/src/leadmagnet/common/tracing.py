"""OpenTelemetry traces: one trace per job, across every service it passes through.

The context travels in the CloudEvents envelope (the distributed-tracing extension's
``traceparent``/``tracestate``, W3C Trace Context): ``EventBus.event`` writes the current one, the
consumer reads it back and runs the handler in a CONSUMER span under it. The gateway's request is
the root (a SERVER span), so submit → report → render → webhook is one trace.

Only the API is imported here (light; always safe to call): without ``setup_tracing`` every span
is a no-op, yet a context that arrived in an envelope still reaches the log lines and the next
envelope. The SDK and the exporters are imported when ``TRACES_EXPORTER`` asks for them:
``console`` (one JSON line per span on stderr), ``file`` (the same lines in ``TRACES_FILE``) or
``otlp`` (OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``, which the exporter reads itself).
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .events.envelope import CloudEvent
from .providers.base import CallCost
from .settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "SpanKind",
    "aws_call_hooks",
    "call_cost_attributes",
    "consumer_span",
    "extract",
    "inject",
    "mark_failed",
    "setup_tracing",
    "shutdown_tracing",
    "span",
    "url_host",
    "use_provider",
]

INSTRUMENTATION = "leadmagnet"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None  # ours, once set up (or a test's); else the global one


def tracer() -> Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer(INSTRUMENTATION)


def use_provider(provider: TracerProvider | None) -> None:
    """Route our spans to ``provider`` (tests: an in-memory exporter) without the global,
    set-once provider."""
    global _provider
    _provider = provider


# ---- set-up ----------------------------------------------------------------------------------


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def setup_tracing(service: str, settings: Settings) -> None:
    """Export this process's spans as ``settings.traces_exporter`` says (``none``: nothing is
    imported, spans stay no-ops). ``service.name`` is the service."""
    if settings.traces_exporter == "none":
        return
    import sys

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create(
        {"service.name": service, "deployment.environment.name": settings.environment}
    )
    # Sampling: the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself (default: parent-based, all).
    provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
    processor: SpanProcessor
    if settings.traces_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    else:
        # Written as each span ends: nothing is lost when a process is killed.
        out: IO[str] = sys.stderr
        if settings.traces_exporter == "file":
            path = settings.traces_file or Path(f"{service}.traces.jsonl")
            path.parent.mkdir(parents=True, exist_ok=True)
            out = path.open("a", encoding="utf-8", buffering=1)
        processor = SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_one_line))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    use_provider(provider)
    atexit.register(shutdown_tracing)


def shutdown_tracing() -> None:
    """Flush what is batched and stop exporting (services call it once they have drained)."""
    global _provider
    provider, _provider = _provider, None
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


# ---- spans -----------------------------------------------------------------------------------


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    context: Context | None = None,
) -> Iterator[Span]:
    """A span current for the block; an exception leaving it is recorded and marks it failed."""
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    with tracer().start_as_current_span(name, context=context, kind=kind, attributes=attrs) as s:
        yield s


def mark_failed(
    message: str, error: BaseException | None = None, *, target: Span | None = None
) -> None:
    """The span (default: the current one) failed, for failures handled inside its block."""
    current = target or trace.get_current_span()
    if error is not None:
        current.record_exception(error)
    current.set_status(Status(StatusCode.ERROR, message))


def url_host(url: str) -> str | None:
    """A URL's host only: paths and queries may carry tokens, spans must not."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


# ---- propagation (CloudEvents distributed-tracing extension) -----------------------------------


def inject() -> dict[str, str]:
    """``traceparent`` (and ``tracestate`` when there is one) of the current context."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The context an envelope carries (an empty one when absent or malformed)."""
    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier, context=Context())


@contextmanager
def consumer_span(event: CloudEvent[Any], *, queue: str, message_id: str) -> Iterator[Span]:
    """``process <event type>``: a CONSUMER span whose parent is the producer's context."""
    with span(
        f"process {event.type}",
        {
            "messaging.system": "aws_sqs",
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
            "messaging.message.id": message_id,
            "cloudevents.event_id": event.id,
            "cloudevents.event_type": event.type,
            "cloudevents.event_source": event.source,
            "cloudevents.event_subject": event.subject,
        },
        kind=SpanKind.CONSUMER,
        context=extract(event.traceparent, event.tracestate),
    ) as s:
        yield s


def call_cost_attributes(cost: CallCost) -> dict[str, Any]:
    """A model call's provider, model, tokens and price (GenAI semantic conventions' names where
    they have one). ``input_tokens`` counts all input, cached or not."""
    usage = cost.usage
    attributes = {
        "gen_ai.provider.name": cost.provider,
        "gen_ai.response.model": cost.model,
        "gen_ai.response.id": cost.request_id,
        "gen_ai.usage.input_tokens": (
            usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens
        ),
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "leadmagnet.usage.cached_input_tokens": usage.cached_input_tokens,
        "leadmagnet.usage.reasoning_tokens": usage.reasoning_tokens,
        "leadmagnet.cost_micros": cost.cost_micros,
        "leadmagnet.price_version": cost.price_version,
    }
    return {k: v for k, v in attributes.items() if v is not None}


# ---- AWS calls -------------------------------------------------------------------------------

_SPAN_KEY = "leadmagnet.span"


def _before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
    # Only inside a traced unit of work: the pollers' idle long polls and the batched
    # acknowledgements would otherwise each be a trace of their own.
    if not trace.get_current_span().is_recording():
        return
    service_id = model.service_model.service_id
    context[_SPAN_KEY] = tracer().start_span(
        f"{service_id}.{model.name}",
        kind=SpanKind.CLIENT,
        attributes={
            "rpc.system": "aws-api",
            "rpc.service": str(service_id),
            "rpc.method": model.name,
            "cloud.region": context.get("client_region") or "",
        },
    )


def _after_call(http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
    s: Span | None = context.pop(_SPAN_KEY, None)
    if s is None:
        return
    status = int(getattr(http_response, "status_code", 0) or 0)
    s.set_attribute("http.response.status_code", status)
    metadata = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
    if metadata.get("RequestId"):
        s.set_attribute("aws.request_id", str(metadata["RequestId"]))
    if status >= 300:
        code = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        s.set_status(Status(StatusCode.ERROR, str(code or status)))
    s.end()


def _after_call_error(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
    s: Span | None = context.pop(_SPAN_KEY, None)
    if s is None:
        return
    s.record_exception(exception)
    s.set_status(Status(StatusCode.ERROR, type(exception).__name__))
    s.end()


def aws_call_hooks() -> dict[str, Any]:
    """botocore event handlers making a CLIENT span per AWS call (retries included).

    aiobotocore emits ``before-call``/``after-call``/``after-call-error`` around each request
    (``AioBaseClient._make_api_call``) but does not go through botocore's, which is what the
    botocore instrumentation patches; so we listen to the events instead."""
    return {
        # As specific as a stubber's (botocore calls more specific handlers first, and the
        # first answer to before-call ends its round), so ours starts before anyone answers.
        "before-call.*.*": _before_call,
        "after-call.*.*": _after_call,
        "after-call-error.*.*": _after_call_error,
    }
