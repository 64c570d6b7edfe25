"""The full footprint (ECS, ALB, autoscaling included) planned against the embedded endpoint:
structural checks on what `terraform plan` would create, from `terraform show -json`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from leadmagnet.common.settings import Settings
from leadmagnet.common.topology import load_topology
from leadmagnet.testing.terraform import TERRAFORM_DIR, Terraform

pytestmark = [pytest.mark.terraform, pytest.mark.integration]

ROOT = """
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
    sts = "{endpoint}"
    iam = "{endpoint}"
  }}
}}

module "platform" {{
  source             = "{platform}"
  resource_prefix    = "plan"
  environment        = "prod"
  lead_email_sender  = "leads@example.com"
  ses_domain         = "example.com"
  image              = "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadmagnet:1.0.0"
  vpc_id             = "vpc-0123456789abcdef0"
  vpc_cidr_block     = "10.20.0.0/16" # given: the plan makes no EC2 call
  private_subnet_ids = ["subnet-1", "subnet-2"]
  public_subnet_ids  = ["subnet-3", "subnet-4"]
  certificate_arn    = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
  public_url         = "https://api.example.com"
  enable_cdn         = false # the CDN domain would leave the task environment unknown at plan
  deletion_protection = true
  secret_arns = {{
    OPENAI_API_KEY = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-AbCdEf"
  }}
}}
"""


@pytest.fixture(scope="module")
def plan(
    terraform_ready: None, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tf-plan-root")
    (root / "main.tf").write_text(
        ROOT.format(
            endpoint=aws_endpoint,
            # A relative "../" source keeps the modules one package (absolute paths split them).
            platform=os.path.relpath(TERRAFORM_DIR / "modules" / "platform", root),
        )
    )
    tf = Terraform(root, root)
    tf.init()
    return tf.plan_json({})


def changes(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [
        rc["change"]["after"] | {"_address": rc["address"]}
        for rc in plan["resource_changes"]
        if rc["type"] == rtype and "create" in rc["change"]["actions"]
    ]


def test_every_worker_scales_on_backlog_per_task(plan: dict[str, Any]) -> None:
    topology = load_topology()
    workers = {q.consumer: name for name, q in topology.queues.items()}
    policies = changes(plan, "aws_appautoscaling_policy")
    backlog = {}
    for p in policies:
        config = p["target_tracking_scaling_policy_configuration"][0]
        custom = config.get("customized_metric_specification") or []
        if not custom:
            continue
        metrics = {m["id"]: m for m in custom[0]["metrics"]}
        visible = metrics["backlog"]["metric_stat"][0]["metric"][0]
        assert visible["metric_name"] == "ApproximateNumberOfMessagesVisible"
        tasks = metrics["tasks"]["metric_stat"][0]["metric"][0]
        assert tasks["metric_name"] == "RunningTaskCount"
        assert "backlog /" in metrics["backlog_per_task"]["expression"]
        assert metrics["backlog_per_task"]["return_data"] is True
        assert config["scale_in_cooldown"] > 0
        assert config["scale_out_cooldown"] > 0
        (queue_dim,) = visible["dimensions"]
        backlog[queue_dim["value"]] = p["name"]
    assert set(backlog) == {f"plan-{q}" for q in workers.values()}
    targets = changes(plan, "aws_appautoscaling_target")
    assert len(targets) == len(topology.services)
    assert all(t["min_capacity"] >= 1 for t in targets)


def test_task_definitions_are_hardened(plan: dict[str, Any]) -> None:
    topology = load_topology()
    known = {(f.alias or n).upper() for n, f in Settings.model_fields.items()} | {"AWS_REGION"}
    defs = changes(plan, "aws_ecs_task_definition")
    assert len(defs) == len(topology.services)
    for d in defs:
        (container,) = json.loads(d["container_definitions"])
        svc = container["name"]
        assert container["command"] == topology.services[svc].command
        assert container["readonlyRootFilesystem"] is True
        assert container["user"] != "0"
        assert 2 <= container["stopTimeout"] <= 120
        assert container["healthCheck"]["command"][:4] == [
            "CMD",
            "python",
            "-m",
            "leadmagnet.common.healthcheck",
        ]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert set(env) <= known, set(env) - known
        assert "OPENAI_API_KEY" not in env  # secrets arrive through Secrets Manager only
        assert {s["name"] for s in container["secrets"]} == {"OPENAI_API_KEY"}
        if svc != "gateway":
            grace = float(env["CONSUMER_SHUTDOWN_GRACE_SECONDS"])
            assert container["stopTimeout"] > grace
    services = changes(plan, "aws_ecs_service")
    for s in services:
        (breaker,) = s["deployment_circuit_breaker"]
        assert breaker == {"enable": True, "rollback": True}
    (cluster,) = changes(plan, "aws_ecs_cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster["setting"]


def test_alb_redirects_http_and_serves_https(plan: dict[str, Any]) -> None:
    listeners = {rc["port"]: rc for rc in changes(plan, "aws_lb_listener")}
    assert listeners[443]["protocol"] == "HTTPS"
    redirect = listeners[80]["default_action"][0]["redirect"][0]
    assert redirect["protocol"] == "HTTPS"
    (lb,) = changes(plan, "aws_lb")
    assert lb["drop_invalid_header_fields"] is True
    (tg,) = changes(plan, "aws_lb_target_group")
    assert tg["health_check"][0]["path"] == "/readyz"


def test_prod_tables_have_deletion_protection(plan: dict[str, Any]) -> None:
    tables = changes(plan, "aws_dynamodb_table")
    assert len(tables) == len(load_topology().tables)
    for t in tables:
        assert t["deletion_protection_enabled"] is True, t["_address"]
        assert t["point_in_time_recovery"][0]["enabled"] is True


def test_no_wildcard_actions_in_any_module() -> None:
    """Static guard over every policy document in the modules: Allow statements never use
    '*' actions (the only wildcard is the TLS-only Deny on buckets)."""
    import hcl2

    offenders = []
    for tf_file in sorted((TERRAFORM_DIR / "modules").rglob("*.tf")):
        doc = hcl2.loads(tf_file.read_text())
        for data in doc.get("data", []):
            for body in data.get("aws_iam_policy_document", {}).values():
                for st in _statements(body):
                    effect = str(st.get("effect", "Allow")).strip('"')
                    actions = st.get("actions", [])
                    if effect != "Deny" and any("*" in str(a) for a in actions):
                        offenders.append((tf_file.name, actions))
    assert not offenders, offenders


def _statements(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(body.get("statement", []))
    for dyn in body.get("dynamic", []):
        for block in dyn.values():
            found.extend(block.get("content", []))
    return found


def test_root_module_path_is_stable() -> None:
    assert (TERRAFORM_DIR / "modules" / "platform" / "main.tf").is_file()
    assert Path(TERRAFORM_DIR / "offline.tfrc").read_text().count("/opt/tf-plugins") == 1


def test_alarms_page_the_alarms_topic_on_dlqs_queue_age_and_failure_rate(
    plan: dict[str, Any],
) -> None:
    queues = load_topology().queues
    alarms = {
        rc["change"]["after"]["alarm_name"]: rc["change"]
        for rc in plan["resource_changes"]
        if rc["type"] == "aws_cloudwatch_metric_alarm"
    }
    for change in alarms.values():  # every alarm notifies the topic, when raised and cleared
        assert change["after"]["actions_enabled"] is True
        assert change["after_unknown"]["alarm_actions"] is True  # the topic's ARN, at apply
        assert change["after_unknown"]["ok_actions"] is True
    for q in queues:
        dlq = alarms[f"plan-{q}-dlq-not-empty"]["after"]
        assert dlq["metric_name"] == "ApproximateNumberOfMessagesVisible"
        assert dlq["dimensions"] == {"QueueName": f"plan-{q}-dlq"}
        assert (dlq["threshold"], dlq["comparison_operator"]) == (0, "GreaterThanThreshold")
        age = alarms[f"plan-{q}-oldest-message-age"]["after"]
        assert age["metric_name"] == "ApproximateAgeOfOldestMessage"
        assert age["dimensions"] == {"QueueName": f"plan-{q}"}
        assert age["threshold"] == 900
    rate = alarms["plan-job-failure-rate"]["after"]
    queries = {q["id"]: q for q in rate["metric_query"]}
    assert queries["rate"]["return_data"] is True
    for name, metric in (("failed", "JobsFailed"), ("completed", "JobsCompleted")):
        (stat,) = queries[name]["metric"]
        # the namespace the services write to (METRICS_NAMESPACE), summed over 15 minutes
        assert (stat["namespace"], stat["metric_name"], stat["period"]) == ("plan", metric, 900)
    assert len(alarms) == 2 * len(queues) + 1

    (topic,) = [
        rc["change"]
        for rc in plan["resource_changes"]
        if rc["type"] == "aws_sns_topic" and rc["change"]["after"]["name"] == "plan-alarms"
    ]
    assert topic["after_unknown"]["kms_master_key_id"] is True  # the key below, at apply
    (key,) = changes(plan, "aws_kms_key")  # CloudWatch may not use the AWS-managed SNS key
    assert key["enable_key_rotation"] is True
    assert "cloudwatch.amazonaws.com" in key["policy"]
    subscriptions = changes(plan, "aws_sns_topic_subscription")
    assert all(s["protocol"] != "email" for s in subscriptions)  # no alarm_email: none

    (dashboard,) = changes(plan, "aws_cloudwatch_dashboard")
    body = json.dumps(json.loads(dashboard["dashboard_body"]))
    for q in queues:
        assert f'"QueueName", "plan-{q}-dlq"' in body
    for metric in ("JobsStarted", "StageLatency", "InputTokens", "CostMicros"):
        assert metric in body
