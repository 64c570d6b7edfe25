"""The per-flow tables of docs/benchmarks.md: AWS calls by operation and by service, what they
cost, the seeds' Step Functions + Lambda design beside them, CPU per service."""

from __future__ import annotations

from collections import Counter
from typing import Any

from leadmagnet.cli.devstack import SERVICES

from . import costs
from .measure import NOT_THE_PLATFORM, platform_calls, platform_units

LEAD_MAGNET = "lead_magnet"
TITLES = {
    LEAD_MAGNET: "lead magnet",
    "product_kit": "product kit",
    "funnel_run": "funnel run",
    "chat_lead": "chat lead",
    "gated_job": "gated job",
}


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _per_job(r: dict[str, Any]) -> int:
    return max(1, int(r["completed"]))


def _by_service(r: dict[str, Any]) -> dict[str, Counter[str]]:
    """caller -> service:operation -> calls, the platform's callers only."""
    out: dict[str, Counter[str]] = {}
    for key, n in r["calls_by_caller"].items():
        caller, op = key.split(":", 1)
        if caller not in NOT_THE_PLATFORM:
            out.setdefault(caller, Counter())[op] += n
    return out


def _endpoint_cpu_ms(r: dict[str, Any]) -> float:
    return float(sum(v for c, v in r["endpoint_cpu_ms"].items() if c not in NOT_THE_PLATFORM))


def cpu_table(r: dict[str, Any]) -> list[str]:
    """service | its own CPU per job | the endpoint's CPU serving its calls, per job."""
    jobs = _per_job(r)
    endpoint = r["endpoint_cpu_ms"]
    rows = [
        [n, f"{r['cpu_ms'][n] / jobs:.0f}", f"{endpoint.get(n, 0.0) / jobs:.0f}"] for n in SERVICES
    ]
    rows.append(
        [
            "**the five services**",
            f"**{sum(r['cpu_ms'].values()) / jobs:.0f}**",
            f"**{_endpoint_cpu_ms(r) / jobs:.0f}**",
        ]
    )
    return table(["service", "CPU ms per job", "moto CPU ms per job serving its calls"], rows)


def service_operation_table(r: dict[str, Any]) -> list[str]:
    """service | calls per job | its calls per job by operation."""
    jobs = _per_job(r)
    rows = []
    for caller in [s for s in SERVICES if s in _by_service(r)]:
        ops = _by_service(r)[caller]
        detail = ", ".join(
            f"`{op}` {n / jobs:.2f}" for op, n in sorted(ops.items(), key=lambda kv: -kv[1])
        )
        rows.append([caller, f"{sum(ops.values()) / jobs:.2f}", detail])
    return table(["service", "calls per job", "by operation (calls per job)"], rows)


def summary(results: dict[str, dict[str, Any]], funnel_images: int) -> list[str]:
    designs = costs.seed_designs(funnel_images)
    rows = []
    for name, r in results.items():
        jobs = _per_job(r)
        calls, _ = platform_calls(r)
        api = costs.per_million(dict(calls), jobs, platform_units(r))["total"]
        seed = designs[name].per_million()["total"]
        rows.append(
            [
                TITLES[name],
                r["jobs"],
                r["completed"],
                f"{r['elapsed']:.1f}",
                f"{sum(calls.values()) / jobs:.1f}",
                f"{api:,.2f}",
                f"{seed:,.2f}",
                f"{sum(r['cpu_ms'].values()) / jobs:.0f}",
                f"{_endpoint_cpu_ms(r) / jobs:.0f}",
            ]
        )
    return table(
        [
            "flow",
            "jobs",
            "completed",
            "wall (s)",
            "AWS calls per job",
            "API USD per 1 M jobs",
            "seeds' SFN + Lambda USD per 1 M jobs",
            "CPU ms per job (five services)",
            "moto CPU ms per job",
        ],
        rows,
    )


def operation_matrix(results: dict[str, dict[str, Any]]) -> list[str]:
    """Calls per job: a row per service:operation, a column per flow."""
    per_flow = {name: platform_calls(r)[0] for name, r in results.items()}
    ops = sorted({op for c in per_flow.values() for op in c})
    rows = [
        [f"`{op}`"]
        + [
            f"{per_flow[n][op] / _per_job(results[n]):.2f}" if per_flow[n][op] else "—"
            for n in results
        ]
        for op in ops
    ]
    rows.append(
        ["**total**"]
        + [f"**{sum(per_flow[n].values()) / _per_job(results[n]):.2f}**" for n in results]
    )
    return table(["service:operation"] + [TITLES[n] for n in results], rows)


def cost_matrix(results: dict[str, dict[str, Any]], funnel_images: int) -> list[str]:
    designs = costs.seed_designs(funnel_images)
    ours = {
        n: costs.per_million(dict(platform_calls(r)[0]), _per_job(r), platform_units(r))
        for n, r in results.items()
    }
    services = sorted({s for o in ours.values() for s in o["by_service"]})
    rows = [[s] + [f"{ours[n]['by_service'].get(s, 0.0):,.2f}" for n in results] for s in services]
    rows.append(["**API total**"] + [f"**{ours[n]['total']:,.2f}**" for n in results])
    seed = {n: designs[n].per_million() for n in results}
    rows.append(["seeds': Step Functions"] + [f"{seed[n]['step_functions']:,.2f}" for n in results])
    rows.append(["seeds': Lambda"] + [f"{seed[n]['lambda']:,.2f}" for n in results])
    return table(["USD per 1 M jobs"] + [TITLES[n] for n in results], rows)


def design_table(names: list[str], funnel_images: int) -> list[str]:
    designs = costs.seed_designs(funnel_images)
    return table(
        ["flow", "seed", "state transitions", "Lambda invocations", "Lambda GB-s", "shape"],
        [
            [
                TITLES[n],
                designs[n].seed,
                designs[n].transitions,
                designs[n].lambda_invocations,
                f"{designs[n].lambda_seconds * costs.LAMBDA_GB:.1f}",
                designs[n].shape,
            ]
            for n in names
        ],
    )


def cpu_matrix(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        [s] + [f"{results[n]['cpu_ms'][s] / _per_job(results[n]):.0f}" for n in results]
        for s in SERVICES
    ]
    rows.append(
        ["**the five services**"]
        + [f"**{sum(results[n]['cpu_ms'].values()) / _per_job(results[n]):.0f}**" for n in results]
    )
    rows.append(
        ["moto, serving their calls"]
        + [f"{_endpoint_cpu_ms(results[n]) / _per_job(results[n]):.0f}" for n in results]
    )
    return table(["CPU ms per job"] + [TITLES[n] for n in results], rows)


def section(pipeline: dict[str, Any], drives: dict[str, str]) -> list[str]:
    """The "every flow" section: the lead-magnet run and each flow measured after it."""
    results = {LEAD_MAGNET: pipeline, **pipeline["flows"]}
    images = pipeline["funnel_images"]
    lines = [
        "## Every flow: calls, cost and CPU per job",
        "",
        "The same stack right after the lead-magnet run (one moto, the five services, offline"
        " provider); each flow's jobs submitted over HTTP at the same client concurrency, its"
        " own measurement window (counters reset, CPU read before and after). Waiting is done"
        " by polling a second gateway process whose AWS calls are tagged apart: left out"
        " here, like the benchmark's own calls (presigned uploads, subscriber polls). A call's"
        " service is the `leadmagnet/<service>` tag its SDK client puts in the User-Agent."
        " CPU: user + system time of each service with the processes it started"
        " (`/proc/<pid>/stat`); moto's is the CPU time of its request threads"
        " (`time.thread_time`) while handling each service's calls.",
        "",
        *[f"- **{TITLES[n]}**: {drives[n]}" for n in results if n in drives],
        "",
        *summary(results, images),
        "",
        "Per job, long polls included: an idle worker's empty `ReceiveMessage` calls over the"
        " window count against the flow's few jobs, so small flows carry a larger share.",
        "",
        "### AWS calls per job by operation",
        "",
        *operation_matrix(results),
        "",
        "### AWS cost per 1 M jobs beside the seeds' designs (list prices, us-east-1)",
        "",
        *cost_matrix(results, images),
        "",
        "This design's DynamoDB is priced at the request units metered from item sizes (see"
        " the lead-magnet section), the rest per call. The seeds' designs, priced from their"
        " documented states (Standard workflows: every"
        f" state entered is a transition) and Lambdas of {costs.LAMBDA_GB:.0f} GB billed while"
        f" they wait: {costs.LLM_SECONDS:.0f} s per text/vision model call,"
        f" {costs.IMAGE_SECONDS:.0f} s per image generation, {costs.SHORT_LAMBDA_SECONDS} s for"
        " a Lambda that only reads or writes; before the DynamoDB/S3 calls they also make. This"
        " design's compute is extra (see the Fargate figure in the concurrency section).",
        "",
        *design_table(list(results), images),
        "",
        "### CPU per job",
        "",
        *cpu_matrix(results),
        "",
        "### Calls per job by service and operation",
        "",
    ]
    for name, r in pipeline["flows"].items():  # the lead magnet's is in its own section
        lines += [f"**{TITLES[name]}**", "", *service_operation_table(r), ""]
    return lines
