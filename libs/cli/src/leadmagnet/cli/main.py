"""``leadmagnet``: the operator's command line.

leadmagnet dev                 run everything locally (embedded AWS, 5 services, demo data)
leadmagnet bootstrap           create/converge the topology against AWS_ENDPOINT_URL (or AWS)
leadmagnet tenants create      create a tenant and print its first API key
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


def _moto(args: argparse.Namespace) -> int:
    import threading

    from .dev import start_moto

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
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging("cli", settings.log_level, "console")
    args: Any = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
