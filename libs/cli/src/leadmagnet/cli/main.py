"""``leadmagnet``: the operator's command line.

leadmagnet dev                 run everything locally (embedded AWS, 5 services, demo data)
leadmagnet bootstrap           create/converge the topology against AWS_ENDPOINT_URL (or AWS)
leadmagnet tenants create      create a tenant and print its first API key
leadmagnet dlq list|show|redrive|purge --queue Q   inspect and redrive dead letters
leadmagnet jobs show JOB_ID    a job's state, cost and timeline
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from leadmagnet.common.logging import configure_logging
from leadmagnet.common.settings import get_settings

Command = Callable[[argparse.Namespace], int]


def _bootstrap(args: argparse.Namespace) -> int:
    from leadmagnet.common.aws import AwsClients
    from leadmagnet.common.bootstrap import bootstrap

    async def run() -> None:
        async with AwsClients(get_settings()) as aws:
            await bootstrap(aws)

    asyncio.run(run())
    print(f"topology ready (prefix {get_settings().resource_prefix})")
    return 0


def _tenants_create(args: argparse.Namespace) -> int:
    from leadmagnet.common.platform import Platform

    async def run() -> tuple[str, str]:
        async with Platform.open(get_settings(), "cli") as p:
            tenant = await p.tenants.create(args.name)
            return tenant.tenant_id, await p.tenants.issue_key(tenant.tenant_id, args.label)

    tenant_id, key = asyncio.run(run())
    print(f"tenant_id: {tenant_id}\napi_key:   {key}   (shown once; store it now)")
    return 0


def _events_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from leadmagnet.common.events.catalog import export

    for path in export(Path(args.out)):
        print(path)
    return 0


def _with_platform(work: Callable[[Any], Any]) -> Any:
    from leadmagnet.common.platform import Platform

    async def run() -> Any:
        async with Platform.open(get_settings(), "cli") as p:
            return await work(p)

    return asyncio.run(run())


def _dlq(args: argparse.Namespace) -> int:
    import json

    async def work(p: Any) -> int:
        letters = p.dead_letters
        if args.dlq_command == "list":
            found = await letters.peek(args.queue, limit=args.max)
            if args.json:
                print(json.dumps([d.summary() for d in found], indent=2))
                return 0
            print(f"{len(found)} message(s) in {args.queue}'s DLQ")
            for d in found:
                s = d.summary()
                print(
                    f"{s['message_id']}  {s['type'] or '(undecodable)'}  subject={s['subject']}"
                    f"  receives={s['receive_count']}  reason: {s['reason']}"
                )
            return 0
        if args.dlq_command == "show":
            d = await letters.show(args.queue, args.message_id)
            if d is None:
                print(f"no message {args.message_id} in {args.queue}'s DLQ", file=sys.stderr)
                return 1
            print(json.dumps({**d.summary(), "attributes": d.attributes}, indent=2))
            print(json.dumps(d.envelope, indent=2) if d.envelope is not None else d.body)
            return 0
        if args.dlq_command == "redrive":
            how, moved = await letters.redrive(args.queue, limit=args.max)
            print(f"redrive of {args.queue}: {moved} message(s) ({how})")
            return 0
        if not args.yes:
            print("purge deletes every message of the DLQ: add --yes", file=sys.stderr)
            return 2
        print(f"purged {await letters.purge(args.queue)} message(s) from {args.queue}'s DLQ")
        return 0

    try:
        return int(_with_platform(work))
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2


def _jobs_show(args: argparse.Namespace) -> int:
    import json

    from leadmagnet.common.jobfiles import execution_log
    from leadmagnet.common.money import micros_to_usd

    async def work(p: Any) -> int:
        job = await p.jobs.get(args.job_id)
        if job is None:
            print(f"no job {args.job_id}", file=sys.stderr)
            return 1
        events = await p.jobs.timeline(job.job_id)
        if args.json:
            print(
                json.dumps(
                    {
                        "job": job.model_dump(mode="json"),
                        "timeline": [e.model_dump(mode="json") for e in events],
                    },
                    indent=2,
                )
            )
            return 0
        print(execution_log(job, events), end="")
        print(f"cost: ${micros_to_usd(job.cost_micros)} in {len(job.cost_calls)} call(s)")
        if job.error_message:
            print(f"error ({job.error_code}): {job.error_message}")
        return 0

    return int(_with_platform(work))


def _moto(args: argparse.Namespace) -> int:
    import threading

    from .embedded_aws import start_moto

    endpoint, _server = start_moto(args.port)
    print(f"moto server on {endpoint} (Ctrl-C stops it)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
        threading.Event().wait()
    return 0


def _dev(args: argparse.Namespace) -> int:
    from .dev import run_dev

    return run_dev(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadmagnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole system locally (what `make run` does)")
    dev.add_argument("--aws-port", type=int, default=4566, help="embedded AWS endpoint port")
    dev.add_argument("--gateway-port", type=int, default=8000)
    dev.add_argument("--log-dir", default=".run/logs")
    dev.set_defaults(func=_dev)

    moto = sub.add_parser("moto", help="run only the embedded AWS endpoint (moto server)")
    moto.add_argument("--port", type=int, default=5000)
    moto.set_defaults(func=_moto)

    boot = sub.add_parser("bootstrap", help="create the queues, topic, tables and buckets")
    boot.set_defaults(func=_bootstrap)

    events = sub.add_parser("events", help="event contracts")
    esub = events.add_subparsers(dest="events_command", required=True)
    exp = esub.add_parser("export", help="write JSON Schemas, AsyncAPI and the catalogue")
    exp.add_argument("--out", default="docs/events")
    exp.set_defaults(func=_events_export)

    tenants = sub.add_parser("tenants", help="tenant administration")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tsub.add_parser("create", help="create a tenant and print an API key")
    create.add_argument("--name", required=True)
    create.add_argument("--label", default="admin")
    create.set_defaults(func=_tenants_create)

    dlq = sub.add_parser("dlq", help="inspect, redrive or purge a queue's dead letters")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "decoded envelope, receive count and last error of each message"),
        ("show", "one message in full"),
        ("redrive", "move the messages back to their source queue"),
        ("purge", "delete every message"),
    ):
        cmd = dsub.add_parser(name, help=text)
        cmd.add_argument("--queue", required=True, help="logical queue: reporter, renderer...")
        if name == "list":
            cmd.add_argument("--max", type=int, default=50)
            cmd.add_argument("--json", action="store_true")
        if name == "show":
            cmd.add_argument("message_id")
        if name == "redrive":
            cmd.add_argument(
                "--max", type=int, default=None, help="at most N (re-send; else a move task)"
            )
        if name == "purge":
            cmd.add_argument("--yes", action="store_true", help="really delete them")
        cmd.set_defaults(func=_dlq)

    jobs = sub.add_parser("jobs", help="jobs")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    show = jsub.add_parser("show", help="a job's state, cost and timeline")
    show.add_argument("job_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_jobs_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging("cli", settings.log_level, "console")
    args: Any = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
