"""``leadmagnet dev`` / ``make run``: embedded AWS + bootstrap + five services + demo data."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import threading
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from leadmagnet.common.aws import LOCAL_CREDENTIALS, AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings

from .demo import Demo, seed_demo
from .devstack import ServiceStack
from .embedded_aws import start_moto

DUMMY_CREDENTIALS = {
    **LOCAL_CREDENTIALS,  # the same ones every local-endpoint client gets (leadmagnet.common.aws)
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _endpoint_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - local endpoint check
            return True
    except OSError as e:
        return hasattr(e, "code")  # an HTTP error still means something is listening


async def _prepare(settings: Settings) -> Demo:
    async with AwsClients(settings) as aws:
        await bootstrap(aws)
    async with Platform.open(settings, "cli") as platform:
        existing = await platform.forms.get("demo")
        if existing is not None:  # an external endpoint that already has the demo: add a key
            key = await platform.tenants.issue_key(existing.tenant_id, "demo-admin")
            wf = await platform.workflows.get(existing.tenant_id, existing.workflow_id)
            return Demo(
                existing.tenant_id,
                key,
                wf.template_id if wf and wf.template_id else "",
                existing.workflow_id,
                "demo",
                None,
            )
        return await seed_demo(platform)


def _traces_where(env: dict[str, str], log_dir: str) -> str:
    exporter = env["TRACES_EXPORTER"]
    if exporter == "file":
        where = os.environ.get("TRACES_FILE") or f"{log_dir}/<service>.traces.jsonl"
        return f"{where}   (one JSON line per span; TRACES_EXPORTER=none|console|otlp)"
    if exporter == "otlp":
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
        return f"OTLP/HTTP to {endpoint}"
    if exporter == "console":
        return f"in {log_dir}/<service>.log (stderr)"
    return "off (TRACES_EXPORTER=none)"


def run_dev(args: argparse.Namespace) -> int:
    env: dict[str, str] = {}
    for key, value in DUMMY_CREDENTIALS.items():
        env[key] = os.environ.get(key, value)
    with ExitStack() as stack:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            url = f"http://127.0.0.1:{args.aws_port}"
            if _endpoint_up(url):
                raise SystemExit(f"port {args.aws_port} is busy; pass --aws-port or stop it")
            endpoint, server = start_moto(args.aws_port)
            stack.callback(server.stop)  # type: ignore[attr-defined]
            print(f"embedded AWS (moto server) on {endpoint}")
        env["AWS_ENDPOINT_URL"] = endpoint
        env.setdefault("ALLOW_PRIVATE_TARGETS", os.environ.get("ALLOW_PRIVATE_TARGETS", "true"))
        env["LOG_FORMAT"] = os.environ.get("LOG_FORMAT", "json")
        env["TRACES_EXPORTER"] = os.environ.get("TRACES_EXPORTER", "file")
        os.environ.update(env)
        settings = Settings()
        demo = asyncio.run(_prepare(settings))
        services = ServiceStack(env, Path(args.log_dir), gateway_port=args.gateway_port)
        stack.callback(services.stop_all)
        services.start_all()
        base = services.gateway_url
        body = '{"name":"Ada","email":"ada@example.com","company":"Acme","goal":"more leads"}'
        run = (
            f'{{"templateId":"{demo.funnel_template_id}",'
            '"input":{"input_as_text":"Rewrite this funnel for a meditation app"}}'
        )
        auth = f"-H 'Authorization: Bearer {demo.api_key}'"
        print(
            "\n".join(
                [
                    "",
                    "leadmagnet is running.",
                    f"  gateway:      {base}   (API docs: {base}/docs)",
                    f"  demo API key: {demo.api_key}",
                    f"  logs:         {args.log_dir}/<service>.log",
                    f"  traces:       {_traces_where(env, args.log_dir)}",
                    "",
                    "Submit the demo form:",
                    f"  curl -X POST {base}/v1/forms/demo/submit "
                    f"-H 'content-type: application/json' -d {shlex.quote(body)}",
                    "Then open the status_url it returns. Or use the pages:",
                    f"  hosted form {base}/f/demo   chat demo {base}/chat/demo   "
                    f"admin {base}/admin",
                    "List your jobs:",
                    f"  curl {auth} {base}/v1/jobs",
                    "Rewrite the demo funnel (a run), then GET the links it returns:",
                    f"  curl -X POST {base}/v1/runs {auth} "
                    f"-H 'content-type: application/json' -d {shlex.quote(run)}",
                    "",
                    "Ctrl-C stops everything.",
                ]
            ),
            flush=True,
        )
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        while not stopped.wait(1):
            for name, sp in services.procs.items():
                if sp.proc.poll() is not None:
                    print(f"{name} exited ({sp.proc.returncode}); see {sp.log_path}")
                    stopped.set()
        print("\nstopping services...", flush=True)
    print("stopped.")
    return 0
