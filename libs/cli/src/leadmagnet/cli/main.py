"""``leadmagnet``: the operator's command line.

leadmagnet dev                 run everything locally (embedded AWS, 5 services, demo data)
leadmagnet bootstrap           create/converge the topology against AWS_ENDPOINT_URL (or AWS)
leadmagnet tenants create      create a tenant and print its first API key
leadmagnet tenants key ID      issue another API key for a tenant
leadmagnet tenants limits ID [--model-concurrency N] [--submits-per-minute N]
                               show or set a tenant's limits (0: back to the default)
leadmagnet dlq list|show|redrive|purge --queue Q   inspect and redrive dead letters
leadmagnet jobs show JOB_ID    a job's state, cost and timeline

An AWS failure (an API error, an unreachable endpoint, missing credentials) ends any command with
one line on stderr and exit status 1, never a traceback.
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


def _tenants_key(args: argparse.Namespace) -> int:
    from leadmagnet.common.platform import Platform

    async def run() -> str | None:
        async with Platform.open(get_settings(), "cli") as p:
            if await p.tenants.get(args.tenant_id) is None:
                return None
            return await p.tenants.issue_key(args.tenant_id, args.label)

    key = asyncio.run(run())
    if key is None:
        print(f"no tenant {args.tenant_id}", file=sys.stderr)
        return 1
    print(f"api_key:   {key}   (shown once; store it now)")
    return 0


def _tenants_limits(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from leadmagnet.common.stores.tenants import TenantLimits
    from leadmagnet.common.tenant_limits import in_force

    async def work(p: Any) -> int:
        if await p.tenants.get(args.tenant_id) is None:
            print(f"no tenant {args.tenant_id}", file=sys.stderr)
            return 1
        own = await p.tenants.limits(args.tenant_id, consistent=True)
        asked = {
            name: value or None  # 0: the platform's default
            for name, value in (
                ("model_concurrency", args.model_concurrency),
                ("submits_per_minute", args.submits_per_minute),
            )
            if value is not None
        }
        if asked:
            try:
                own = TenantLimits(**{**own.model_dump(), **asked})
            except ValidationError as e:
                for err in e.errors(include_url=False):
                    flag = "--" + str(err["loc"][0]).replace("_", "-")
                    print(f"{flag}: {err['msg']}", file=sys.stderr)
                return 2
            await p.tenants.set_limits(args.tenant_id, own)
        effective = in_force(own, p.settings)
        for name in ("model_concurrency", "submits_per_minute"):
            value = getattr(own, name)
            source = "" if value is not None else "  (platform default)"
            print(f"{name}: {getattr(effective, name)}{source}")
        return 0

    return int(_with_platform(work))


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


def _purge_in_progress(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error.response.get("Error", {}).get(
        "Code", ""
    ).endswith("PurgeQueueInProgress")


async def _drain(letters: Any, queue: str) -> int:
    """Delete the DLQ's messages batch by batch (what purge does, without SQS's 60 s limit)."""
    url = await letters.resources.queue_url(queue, dlq=True)
    deleted = 0
    while True:
        resp = await letters.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        )
        batch = resp.get("Messages", [])
        if not batch:
            return deleted
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        result = await letters.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        deleted += len(result.get("Successful", []))


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
        try:
            purged = await letters.purge(args.queue)
        except Exception as e:
            if not _purge_in_progress(e):
                raise
            # SQS allows one PurgeQueue per queue every 60 s; the earlier purge only removes what
            # was there when it started. Keep the promise ("every message") the slow way.
            deleted = await _drain(letters, args.queue)
            print(
                f"a purge of {args.queue}'s DLQ is already in progress (SQS allows one per 60 s):"
                f" deleted {deleted} message(s) one batch at a time instead"
            )
            return 0
        print(f"purged {purged} message(s) from {args.queue}'s DLQ")
        return 0

    try:
        return int(_with_platform(work))
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2


def _jobs_show(args: argparse.Namespace) -> int:
    import json

    from leadmagnet.common.money import micros_to_usd
    from leadmagnet.flows.jobfiles import execution_log

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
    key = tsub.add_parser("key", help="issue another API key for an existing tenant")
    key.add_argument("tenant_id")
    key.add_argument("--label", default="admin")
    key.set_defaults(func=_tenants_key)
    limits = tsub.add_parser("limits", help="show or set a tenant's limits (0: the default)")
    limits.add_argument("tenant_id")
    limits.add_argument(
        "--model-concurrency", type=int, help="model calls in flight at once, over every worker"
    )
    limits.add_argument(
        "--submits-per-minute", type=int, help="submissions a minute per public form"
    )
    limits.set_defaults(func=_tenants_limits)

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


def aws_error_line(error: Exception) -> str | None:
    """One line for an AWS failure (None when ``error`` is something else)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(error, BaseExceptionGroup):  # from a task group: the first AWS failure in it
        lines = [aws_error_line(e) for e in error.exceptions if isinstance(e, Exception)]
        return next((line for line in lines if line), None)
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        line = f"AWS error: {error}"
        if code.endswith(("NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException")):
            prefix = get_settings().resource_prefix
            line += f" (is the topology of RESOURCE_PREFIX={prefix} there? `leadmagnet bootstrap`)"
        return line
    if isinstance(error, NoCredentialsError):
        return (
            "AWS error: no credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY (local endpoints on 127.0.0.1/localhost need none)"
        )
    if isinstance(error, BotoCoreError):
        return f"AWS error: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging("cli", settings.log_level, "console")
    args: Any = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        line = aws_error_line(e)
        if line is None:
            raise
        print(f"leadmagnet {args.command}: {' '.join(line.split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
