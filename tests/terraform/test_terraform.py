"""Terraform: offline init/validate/fmt on every environment, a real apply of envs/local against
the embedded AWS endpoint compared with the Python bootstrap, a lead-magnet job through the
Terraform-created resources, and structural checks on IAM and autoscaling."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import httpx2
import pytest

from leadmagnet.cli.demo import seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.common.topology import load_topology
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.terraform import (
    CLI_CONFIG,
    LOCAL_ENDPOINT_VARIABLES,
    TERRAFORM_DIR,
    Terraform,
)
from leadmagnet.testing.topology_snapshot import describe_topology

pytestmark = [pytest.mark.terraform, pytest.mark.integration]

ENVS = ("local", "dev", "prod")
SDK_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_REGION"} | set(LOCAL_ENDPOINT_VARIABLES.values())


def test_fmt_is_clean(terraform_ready: None) -> None:
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        env={"TF_CLI_CONFIG_FILE": str(CLI_CONFIG), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt would change:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("env", ENVS)
def test_init_and_validate_offline(terraform_ready: None, env: str, tmp_path: Path) -> None:
    tf = Terraform(TERRAFORM_DIR / "envs" / env, tmp_path)
    tf.init(backend=False)  # dev/prod keep state in S3; validation needs no backend
    out = tf.run("validate", "-json", "-no-color")
    result = json.loads(out)
    assert result["valid"], result["diagnostics"]


def test_apply_matches_the_python_bootstrap(
    local_deploy: tuple[str, dict[str, Any]], bootstrapped: Settings, aws_endpoint: str
) -> None:
    prefix, outputs = local_deploy
    topology = load_topology()
    by_terraform = describe_topology(aws_endpoint, prefix, topology)
    by_bootstrap = describe_topology(aws_endpoint, bootstrapped.resource_prefix, topology)
    for section in ("queues", "subscriptions", "tables", "buckets"):
        assert by_terraform[section] == by_bootstrap[section], section
    # and both are what topology.json declares
    assert set(by_terraform["queues"]) == set(topology.queues)
    for name, q in topology.queues.items():
        got = by_terraform["queues"][name]
        assert got["dlq"] == f"{name}-dlq"
        assert got["max_receive"] == q.max_receive_count
        assert int(got["dlq_retention"]) > int(got["retention"])
        assert int(got["wait"]) == 20
    subs = {k.split("->")[1]: v for k, v in by_terraform["subscriptions"].items()}
    for name, q in topology.queues.items():
        if q.subscriptions:
            assert subs[name]["raw"] == "true"
            assert subs[name]["filter"] == q.subscriptions[0].filter_policy
        else:
            assert name not in subs
    ttl = {t: d["ttl"] for t, d in by_terraform["tables"].items()}
    assert ttl == {t: spec.ttl_attribute for t, spec in topology.tables.items()}
    assert outputs["table_names"] == {t: f"{prefix}-{t}" for t in topology.tables}


def test_tables_have_recovery_and_encryption(
    local_deploy: tuple[str, dict[str, Any]], dynamodb_endpoint: str
) -> None:
    prefix, _ = local_deploy
    ddb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    for table in load_topology().tables:
        backups = ddb.describe_continuous_backups(TableName=f"{prefix}-{table}")
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED", table
        sse = ddb.describe_table(TableName=f"{prefix}-{table}")["Table"].get("SSEDescription")
        assert sse, table
        assert sse["Status"] == "ENABLED", table


def test_service_environment_uses_the_settings_names(
    local_deploy: tuple[str, dict[str, Any]],
) -> None:
    _, outputs = local_deploy
    known = SDK_VARIABLES.copy()
    for name, field in Settings.model_fields.items():
        known.add((field.alias or name).upper())
    envs: dict[str, dict[str, str]] = outputs["service_environment"]
    assert set(envs) == set(load_topology().services)
    for service, env in envs.items():
        unknown = set(env) - known
        assert not unknown, f"{service}: Terraform sets settings the code never reads: {unknown}"
        Settings(**{k.lower(): v for k, v in env.items() if k not in SDK_VARIABLES})


def test_task_policies_are_least_privilege(local_deploy: tuple[str, dict[str, Any]]) -> None:
    prefix, outputs = local_deploy
    topology = load_topology()
    queues_of = {q.consumer: name for name, q in topology.queues.items()}
    for service, raw in outputs["service_policies"].items():
        statements = json.loads(raw)["Statement"]
        allowed_tables = {f"{prefix}-{t}" for t in topology.services[service].tables}
        for st in statements:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert st["Effect"] == "Allow"
            assert all("*" not in a for a in actions), (service, actions)
            assert all(r != "*" for r in resources), (service, st)
            for r in resources:
                if ":dynamodb:" in r:
                    table = r.split(":table/")[1].split("/")[0]
                    assert table in allowed_tables, (service, r)
                if ":sqs:" in r and st.get("Sid") == "PeekDeadLetters":
                    # Any DLQ, read-only: depths and the oldest messages for the admin console.
                    assert r.endswith("-dlq"), (service, r)
                    assert "sqs:DeleteMessage" not in actions, (service, actions)
                    assert "sqs:SendMessage" not in actions, (service, actions)
                elif ":sqs:" in r:
                    own = f"{prefix}-{queues_of[service]}"
                    assert r.rsplit(":", 1)[1] in (own, f"{own}-dlq"), (service, r)
        sids = {st.get("Sid") for st in statements}
        peeks = topology.services[service].peeks_dead_letters
        assert ("PeekDeadLetters" in sids) == peeks, service
        assert ("ConsumeOwnQueue" in sids) == (service in queues_of), service
        assert ("SendLeadEmail" in sids) == topology.services[service].sends_email, service


async def test_services_run_a_job_on_the_terraform_resources(
    local_deploy: tuple[str, dict[str, Any]], aws_endpoint: str, tmp_path: Path
) -> None:
    """The services, configured only by Terraform's outputs, push one lead magnet through."""
    prefix, outputs = local_deploy
    envs: dict[str, dict[str, str]] = outputs["service_environment"]
    fast = {"SQS_WAIT_TIME_SECONDS": "1", "CONSUMER_SHUTDOWN_GRACE_SECONDS": "10"}
    stack = ServiceStack(envs["gateway"], tmp_path / "logs", gateway_port=free_port())
    try:
        for service in ("gateway", "reporter", "renderer", "notifier"):
            stack.start(service, {**envs[service], **fast, "GATEWAY_PORT": str(stack.gateway_port)})
        stack.wait_ready()
        settings = Settings(
            **{k.lower(): v for k, v in envs["gateway"].items() if k not in SDK_VARIABLES}
        )
        assert settings.resource_prefix == prefix
        async with Platform.open(settings, "tests") as platform:
            demo = await seed_demo(platform, slug=f"tf-{prefix}")
        async with httpx2.AsyncClient(timeout=10) as http:
            api = GatewayClient(stack.gateway_url, http)
            resp = await api.submit(
                demo.slug,
                {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "terraform"},
            )
            assert resp.status_code == 202, resp.text
            job = await api.wait_job(resp.json()["job_id"], within=90)
            assert job["status"] == "completed", job.get("error_message")
            kinds = sorted(a["kind"] for a in job["artifacts"])
            assert len(kinds) == 2, kinds
    finally:
        codes = stack.stop_all()
    assert all(c == 0 for c in codes.values()), codes
