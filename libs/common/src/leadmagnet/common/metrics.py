"""Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout.

On ECS the awslogs driver ships stdout to CloudWatch Logs, which turns every line carrying an
``_aws`` metadata object into metrics: no agent, no PutMetricData calls, no extra latency. A line
is one raw JSON object (not wrapped in the structlog envelope, which CloudWatch would not parse
as EMF): the ``_aws`` directive plus the dimension values and metric values as top-level members,
and a few properties (``Service``, job ids) that are searchable in Logs Insights but are not
dimensions, so they cost no extra metrics.

Dimension sets stay few and low-cardinality; the one per-tenant set is the jobs' (the issue asks
for jobs per kind and tenant). Jobs also have an empty dimension set: the all-jobs totals the
failure-rate alarm reads (an alarm cannot add up metrics across dimension values).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Literal

from .providers.base import CallCost
from .settings import get_settings

Unit = Literal["Count", "Milliseconds", "None"]

# EMF limits (CloudWatch Logs rejects the directive beyond them).
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100

JOB_DIMENSION_SETS: tuple[tuple[str, ...], ...] = ((), ("Kind",), ("Kind", "TenantId"))
STAGE_DIMENSION_SETS: tuple[tuple[str, ...], ...] = (("Service", "Stage"),)
MODEL_DIMENSION_SETS: tuple[tuple[str, ...], ...] = (("Provider", "Model"),)


def emf_record(
    metrics: Mapping[str, tuple[float, Unit]],
    dimensions: Mapping[str, str],
    dimension_sets: Sequence[Sequence[str]],
    *,
    namespace: str,
    properties: Mapping[str, object] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, object]:
    """One EMF document: ``metrics`` name -> (value, unit), ``dimensions`` name -> value."""
    if not metrics or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        raise ValueError(f"an EMF directive holds 1 to {MAX_METRICS_PER_DIRECTIVE} metrics")
    for dims in dimension_sets:
        if len(dims) > MAX_DIMENSIONS_PER_SET:
            raise ValueError(f"an EMF dimension set holds at most {MAX_DIMENSIONS_PER_SET}")
        missing = [d for d in dims if d not in dimensions]
        if missing:
            raise ValueError(f"dimension set names {missing} without values")
    record: dict[str, object] = dict(properties or {})
    record.update(dimensions)
    record.update({name: value for name, (value, _) in metrics.items()})
    record["_aws"] = {
        "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [list(dims) for dims in dimension_sets],
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
            }
        ],
    }
    return record


def emit(
    metrics: Mapping[str, tuple[float, Unit]],
    dimensions: Mapping[str, str],
    dimension_sets: Sequence[Sequence[str]],
    *,
    properties: Mapping[str, object] | None = None,
) -> None:
    """Write one EMF line to the current ``sys.stdout`` (the stream the log driver ships)."""
    settings = get_settings()
    if not settings.metrics_enabled:
        return
    record = emf_record(
        metrics,
        dimensions,
        dimension_sets,
        namespace=settings.metrics_namespace,
        properties=properties,
    )
    line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed or broken stream loses the metric, not the work
        pass


def job_counted(metric: str, *, service: str, job_id: str, kind: str, tenant_id: str) -> None:
    """``JobsStarted`` / ``JobsCompleted`` / ``JobsFailed``: once per job, per kind and tenant."""
    emit(
        {metric: (1, "Count")},
        {"Kind": kind, "TenantId": tenant_id},
        JOB_DIMENSION_SETS,
        properties={"Service": service, "job_id": job_id},
    )


def stage_ran(*, service: str, stage: str, job_id: str, started: float, failed: bool) -> None:
    """A delivery that reached a stage: its latency (``time.monotonic()`` at the start) and
    whether it failed (0/1, so the Average is the stage's failure ratio; retries included)."""
    emit(
        {
            "StageLatency": (round((time.monotonic() - started) * 1000, 3), "Milliseconds"),
            "StageFailed": (1 if failed else 0, "Count"),
        },
        {"Service": service, "Stage": stage},
        STAGE_DIMENSION_SETS,
        properties={"job_id": job_id},
    )


def model_called(cost: CallCost, *, service: str, job_id: str) -> None:
    """Tokens and cost of one provider call (billed failures included), per provider and model.
    ``InputTokens`` counts all input: uncached, read from and written to the prompt cache."""
    usage = cost.usage
    input_tokens = usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens
    emit(
        {
            "InputTokens": (input_tokens, "Count"),
            "OutputTokens": (cost.usage.output_tokens, "Count"),
            "CostMicros": (cost.cost_micros, "None"),
        },
        {"Provider": cost.provider, "Model": cost.model},
        MODEL_DIMENSION_SETS,
        properties={"Service": service, "Operation": cost.operation, "job_id": job_id},
    )
