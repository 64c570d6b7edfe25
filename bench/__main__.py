"""``make bench``: every benchmark, figures to docs/benchmarks.md and a summary on stdout.

    python -m bench [--jobs 100] [--concurrency 10] [--only pipeline,concurrency,render,flood]

Benchmarks measure; tests assert. Nothing here is a pass/fail threshold except that every
submitted job must complete (otherwise the figures would be meaningless).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import concurrency, costs, flood, flow_report, flows, pipeline, render

ALL = ("render", "pipeline", "concurrency", "flood")


_table = flow_report.table


def _calls(per_job: dict[str, float]) -> str:
    ordered = sorted(per_job.items(), key=lambda kv: -kv[1])
    return ", ".join(f"`{name}` {n:.2f}" for name, n in ordered)


def _tree(memory: dict[str, float]) -> str:
    return f"{memory['processes']:.0f}: {memory['rss']:.0f} / {memory['pss']:.0f}"


def report(results: dict[str, Any], command: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); figures only, never test assertions.",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs, Python {host.python_version()}, {host.platform()}",
        "- everything runs on this one machine: moto (one Python process serving every AWS"
        " call), the services as processes, the load generator. On 2 cores they share the CPU,"
        " so absolute figures are a floor for the platform code, not a forecast for AWS.",
        "",
    ]
    if "pipeline" in results:
        r = results["pipeline"]
        lines += [
            "## Lead-magnet pipeline (offline provider)",
            "",
            "Submit over HTTP → `job.completed` at an external subscriber queue: three queue hops"
            " plus the DynamoDB/S3 writes of every stage. The floor is the same endpoint's own"
            " cost for the same three hops per job (publish → receive → delete, nothing else),"
            " measured right after on the same machine.",
            "",
            *_table(
                [
                    "jobs",
                    "completed",
                    "client concurrency",
                    "submit rate (req/s)",
                    "throughput (jobs/s)",
                    "p50 (s)",
                    "p95 (s)",
                    "max (s)",
                    "floor for the same hops (s)",
                    "pipeline / floor",
                ],
                [
                    [
                        r["jobs"],
                        r["completed"],
                        r["concurrency"],
                        f"{r['submit_rate']:.1f}",
                        f"{r['throughput']:.2f}",
                        f"{r['p50']:.2f}",
                        f"{r['p95']:.2f}",
                        f"{r['max']:.2f}",
                        f"{r['floor_seconds']:.1f} (pipeline {r['elapsed']:.1f})",
                        f"{r['floor_ratio']:.1f}x",
                    ]
                ],
            ),
            "",
            "Latency is mostly time in the backlog: submissions arrive faster than the stack"
            " drains them.",
            "",
            "### Footprint per service",
            "",
            *_table(
                [
                    "service",
                    "start → ready (s)",
                    "start-up CPU (ms)",
                    "idle RSS (MiB)",
                    "peak RSS under load (MiB)",
                    "after the load, with the processes it started: processes, RSS / PSS (MiB)",
                ],
                [
                    [
                        n,
                        f"{r['ready_seconds'][n]:.1f}",
                        f"{r['startup_cpu_ms'][n]:.0f}",
                        f"{r['idle_rss_mib'][n]:.0f}",
                        f"{r['peak_rss_mib'][n]:.0f}",
                        _tree(r["loaded_memory_mib"][n]),
                    ]
                    for n in r["ready_seconds"]
                ],
            ),
            "",
            "Start → ready: process start until the gateway answers `/readyz` or a worker's poll"
            " loop touches its health file (imports, AWS clients, queue URL lookups). RSS: the"
            " service's own process. The last column adds what it started (the renderer's render"
            " pool: a forkserver, its resource tracker and the worker processes), read right after"
            " the lead-magnet load; PSS splits each shared page among the processes sharing it,"
            " so the PSS sum is what the service's processes use together (a container's memory).",
            "",
            "### AWS API calls per completed job",
            "",
            "Every call the services made during the run, counted by the embedded endpoint"
            " (the benchmark's own calls, untagged, left out: see below). `ReceiveMessage`"
            " includes the workers' empty long polls over the run, which cost per minute, not"
            " per job.",
            "",
        ]
        jobs = max(1, r["completed"])
        rows = []
        saved = 0.0
        for key, n in sorted(r["calls"].items(), key=lambda kv: -kv[1]):
            entries = r["batched_entries"].get(key, 0)
            unbatched = entries / jobs if entries else n / jobs
            saved += unbatched - n / jobs
            rows.append([f"`{key}`", f"{n / jobs:.2f}", f"{unbatched:.2f}" if entries else "—"])
        total = sum(r["calls"].values()) / jobs
        rows.append(["**total**", f"**{total:.2f}**", f"{total + saved:.2f} without batching"])
        lines += _table(["service:operation", "calls per job", "if not batched"], rows)
        ours = costs.per_million(r["calls"], jobs, r.get("units"))
        units = r.get("units", {})
        writes = sum(u for k, u in units.items() if k.split(":", 1)[1] in costs.DDB_WRITES)
        reads = sum(u for k, u in units.items() if k.split(":", 1)[1] not in costs.DDB_WRITES)
        sfn = costs.seed_designs(r["funnel_images"])["lead_magnet"].per_million()
        lines += [
            "",
            "### AWS cost per 1 M jobs (list prices, us-east-1)",
            "",
            *_table(
                ["this design (measured calls; DynamoDB by request units)", "USD per 1 M jobs"],
                [[s, f"{v:,.2f}"] for s, v in sorted(ours["by_service"].items())]
                + [["**total API cost**", f"**{ours['total']:,.2f}**"]],
            ),
            "",
            "DynamoDB is priced at the request units metered for each call from the item sizes,"
            " as on-demand DynamoDB bills (a write: a unit per KiB of the larger of the item"
            " before and after it; a read: a unit per 4 KiB, half when eventually consistent;"
            " `leadmagnet.testing.request_units`): per job"
            f" **{writes / jobs:.2f} write units** and **{reads / jobs:.2f} read units** for"
            f" {sum(n for k, n in r['calls'].items() if k.startswith('dynamodb:')) / jobs:.2f}"
            " DynamoDB calls (the job item carries its timeline and its files' records, a few"
            " KiB by the end). Compute is extra: see the Fargate figure in the concurrency"
            " section.",
            "",
            f"The seeds' design (a Step Functions Standard execution per job, about"
            f" {costs.SFN_TRANSITIONS_PER_JOB} state transitions, and a Lambda of"
            f" {costs.LAMBDA_GB:.0f} GB that waits {costs.LLM_SECONDS:.0f} s for the LLM):"
            f" Step Functions **{sfn['step_functions']:,.2f}** + Lambda"
            f" **{sfn['lambda']:,.2f}** = **{sfn['total']:,.2f} USD per 1 M jobs**, before the"
            " same DynamoDB/S3 calls it also makes.",
            "",
            "### CPU per job",
            "",
            *flow_report.cpu_table(r),
            "",
            "Each service's user + system time over the run (`/proc/<pid>/stat`), with the"
            " processes it started (the renderer's render workers), per completed job, idle"
            " polling included; moto's column is the CPU time of moto's"
            " request threads while serving that service's calls (moto runs in threads of the"
            " benchmark process, so its process time would mix in the load generator).",
            "",
            "### AWS calls per job by service",
            "",
            *flow_report.service_operation_table(r),
            "",
            *flow_report.section(r, {n: drive for n, (_, _, drive) in flows.FLOWS.items()}),
        ]
    if "concurrency" in results:
        c = results["concurrency"]
        fargate = costs.fargate_reporter_per_million(c["achieved"], c["llm_seconds"])
        lines += [
            "## One reporter process overlapping slow LLM calls",
            "",
            f"A wire-format LLM server answers each call after {c['llm_seconds']:.0f} s; one"
            f" reporter process at `CONSUMER_CONCURRENCY={c['concurrency']}`; a backlog of"
            f" {c['jobs']} jobs enqueued before it starts. Ideal: C / {c['llm_seconds']:.0f} s ="
            f" {c['ideal']:.0f} jobs/s.",
            "",
            *_table(
                [
                    "jobs",
                    "C",
                    "achieved (jobs/s)",
                    "ideal",
                    "fraction",
                    "max calls in flight",
                    "peak RSS (MiB)",
                    "reporter CPU ms per job",
                    "moto CPU ms per job",
                ],
                [
                    [
                        c["jobs"],
                        c["concurrency"],
                        f"{c['achieved']:.1f}",
                        f"{c['ideal']:.0f}",
                        f"{100 * c['fraction']:.0f} %",
                        c["max_in_flight"],
                        f"{c['peak_rss_mib']:.0f}",
                        f"{c['reporter_cpu_ms_per_job']:.1f}",
                        f"{c['moto_cpu_ms_per_job']:.1f}",
                    ]
                ],
            ),
            "",
            "The gap to the ideal is the stage's own work between calls:"
            f" {sum(c['reporter_calls_per_job'].values()):.1f} AWS calls per job"
            f" ({_calls(c['reporter_calls_per_job'])}) to moto, which serves every call from one"
            " Python process on the same 2 cores (the services and moto compete for the CPU),"
            " plus the ramp-up and tail of the backlog. The LLM overlap itself is there:"
            f" {c['max_in_flight']} calls in flight."
            f" At this overlap a 0.5 vCPU / 1 GB Fargate reporter task with"
            f" {costs.LLM_SECONDS:.0f} s LLM calls costs about **{fargate:,.2f} USD per 1 M"
            " jobs** (the waiting is shared by the in-flight jobs instead of billed per job).",
            "",
            "Reporter CPU: the process's user + system time from its start to the last job"
            " (its start-up included: see the start-up CPU in the footprint table), over the"
            " jobs. Moto CPU: the CPU time of moto's request threads serving the reporter's"
            " calls (the benchmark's own enqueueing and queue-depth polls left out).",
            "",
        ]
    if "flood" in results:
        lim, unl = results["flood"]["limited"], results["flood"]["unlimited"]
        lines += [
            "## One tenant floods, another submits (per-tenant model-call limit)",
            "",
            f"One reporter at `CONSUMER_CONCURRENCY={lim['concurrency']}`, model calls of"
            f" {lim['llm_seconds']:.0f} s. Tenant A enqueues {lim['flood']} jobs, tenant B"
            f" {lim['quiet']} right after; B's wait is from enqueue to its report written. Same"
            " run, fresh resources for each row.",
            "",
            *_table(
                [
                    "A's model-call limit",
                    "B's wait p50 (s)",
                    "B's wait max (s)",
                    "A drained after (s)",
                    "A's floor at its limit (s)",
                ],
                [
                    [
                        f"{r['limit']}" + (" (= C: no limit)" if r is unl else ""),
                        f"{r['quiet_p50']:.1f}",
                        f"{r['quiet_max']:.1f}",
                        f"{r['flood_drained']:.1f}",
                        f"{r['flood_floor']:.1f}",
                    ]
                    for r in (lim, unl)
                ],
            ),
            "",
            "With the limit, A's calls beyond it are deferred (put back with a delay, not"
            " failed) and B's jobs take the free slots; without it, B's jobs wait behind A's"
            " backlog in the queue. The integration test `test_tenant_limits.py` asserts the same"
            " behaviour on states, never on these times.",
            "",
        ]
    if "render" in results:
        m = results["render"]
        lines += [
            "## Renderer: markdown → sanitized HTML → template",
            "",
            *_table(
                [
                    "pages",
                    "report size (bytes)",
                    "full render (pages/s)",
                    "ms per page",
                    "raw markdown.markdown() (/s)",
                    "full / raw",
                ],
                [
                    [
                        m["iterations"],
                        m["report_bytes"],
                        f"{m['pages_per_s']:.0f}",
                        f"{m['ms_per_page']:.2f}",
                        f"{m['raw_markdown_per_s']:.0f}",
                        f"{m['pages_per_s'] / m['raw_markdown_per_s']:.2f}",
                    ]
                ],
            ),
            "",
            "Full render = the renderer's per-job work in process: markdown (with the extensions"
            " it enables), nh3 sanitizing, the sandboxed Jinja2 template; not S3 or queues.",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--flow-jobs",
        type=int,
        default=None,
        help="jobs of each other flow after the lead-magnet run (default: pipeline.FLOW_JOBS)",
    )
    parser.add_argument("--only", default=",".join(ALL))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--results", type=Path, default=None, help="also write the raw JSON")
    args = parser.parse_args()
    chosen = [b for b in args.only.split(",") if b]
    unknown = set(chosen) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {sorted(unknown)}; choose from {ALL}")
    results: dict[str, Any] = {}
    if "render" in chosen:
        results["render"] = render.run()
    if "pipeline" in chosen:
        flow_jobs = (
            None if args.flow_jobs is None else dict.fromkeys(pipeline.FLOW_JOBS, args.flow_jobs)
        )
        results["pipeline"] = asyncio.run(pipeline.run(args.jobs, args.concurrency, flow_jobs))
    if "concurrency" in chosen:
        results["concurrency"] = asyncio.run(concurrency.run())
    if "flood" in chosen:
        results["flood"] = asyncio.run(flood.run())
    print(json.dumps(results, indent=2, default=str))
    if args.results:
        args.results.write_text(json.dumps(results, indent=2, default=str))
    command = f"python -m bench --jobs {args.jobs} --concurrency {args.concurrency}"
    if args.flow_jobs is not None:
        command += f" --flow-jobs {args.flow_jobs}"
    if args.only != ",".join(ALL):
        command += f" --only {args.only}"
    text = report(results, command)
    args.out.write_text(text + "\n")
    print(text)
    p = results.get("pipeline")
    runs = [p, *p["flows"].values()] if p else []
    return 0 if all(r["completed"] == r["jobs"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
