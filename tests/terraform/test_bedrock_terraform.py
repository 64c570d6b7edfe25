"""Terraform with the providers set to Bedrock, planned against the embedded endpoint: the task
definitions get the settings, and only the reporter's and the imager's task roles may invoke
the configured models (bedrock:InvokeModel, which Converse uses too), nothing broader."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from leadmagnet.common.settings import Settings
from leadmagnet.testing.terraform import TERRAFORM_DIR, Terraform, missing_prerequisites

pytestmark = [pytest.mark.terraform, pytest.mark.integration]

ACCOUNT = "123456789012"  # moto's STS
TEXT = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

ROOT = """
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true # no iam:GetUser: it leaves moto state that breaks its data API
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
    sts = "{endpoint}"
    iam = "{endpoint}"
  }}
}}

module "platform" {{
  source             = "{platform}"
  resource_prefix    = "bedrock"
  environment        = "prod"
  lead_email_sender  = "leads@example.com"
  ses_domain         = "example.com"
  image              = "{account}.dkr.ecr.us-east-1.amazonaws.com/leadmagnet:1.0.0"
  vpc_id             = "vpc-0123456789abcdef0"
  vpc_cidr_block     = "10.20.0.0/16"
  private_subnet_ids = ["subnet-1", "subnet-2"]
  public_subnet_ids  = ["subnet-3", "subnet-4"]
  certificate_arn    = "arn:aws:acm:us-east-1:{account}:certificate/abc"
  public_url         = "https://api.example.com"
  enable_cdn         = false

  llm_provider         = "bedrock"
  vision_provider      = "bedrock"
  image_provider       = "bedrock"
  bedrock_vision_model = "amazon.nova-pro-v1:0"
}}

output "bedrock_grants" {{
  value = module.platform.bedrock_grants
}}
"""


@pytest.fixture(scope="module")
def plan(aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = missing_prerequisites()
    if reason:
        pytest.fail(f"Terraform checks cannot run: {reason}", pytrace=False)
    root = tmp_path_factory.mktemp("tf-bedrock-root")
    (root / "main.tf").write_text(
        ROOT.format(
            endpoint=aws_endpoint,
            account=ACCOUNT,
            platform=os.path.relpath(TERRAFORM_DIR / "modules" / "platform", root),
        )
    )
    tf = Terraform(root, root)
    tf.init()
    return tf.plan_json({})


def after(plan: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {
        rc["address"]: rc["change"]["after"]
        for rc in plan["resource_changes"]
        if rc["type"] == rtype and "delete" not in rc["change"]["actions"]
    }


IAM_TF = (TERRAFORM_DIR / "modules" / "platform" / "iam.tf").read_text()


def grants(plan: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """What the task policies' Bedrock statements are made of (the policy documents themselves
    stay unknown until the tables exist; these are known at plan)."""
    return dict(plan["planned_values"]["outputs"]["bedrock_grants"]["value"])


def test_only_the_model_callers_may_invoke_exactly_their_models(plan: dict[str, Any]) -> None:
    by_service = grants(plan)
    assert set(by_service) == {"reporter", "imager"}  # not the gateway, renderer or notifier

    profile = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{TEXT}"
    assert by_service["reporter"] == {
        "direct": [profile],
        "routed": ["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"],
        "via": [profile],
    }
    assert by_service["imager"] == {  # plain model ids: no profile to route through
        "direct": [
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0",
        ],
        "routed": [],
        "via": [],
    }
    # The statements built from them: InvokeModel only (Converse needs no other action; no
    # streaming is used), the routed models only through the profiles.
    bedrock_actions = re.findall(r"actions\s*=\s*\[([^\]]*bedrock:[^\]]*)\]", IAM_TF)
    assert bedrock_actions == ['"bedrock:InvokeModel"'] * 2
    assert 'variable = "bedrock:InferenceProfileArn"' in IAM_TF
    assert "resources = statement.value.routed" in IAM_TF


def test_task_definitions_carry_the_bedrock_settings(plan: dict[str, Any]) -> None:
    for task in after(plan, "aws_ecs_task_definition").values():
        (container,) = json.loads(task["container_definitions"])
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["LLM_PROVIDER"] == env["VISION_PROVIDER"] == env["IMAGE_PROVIDER"] == "bedrock"
        assert env["BEDROCK_REGION"] == "us-east-1"
        assert env["BEDROCK_TEXT_MODEL"] == TEXT
        assert env["BEDROCK_VISION_MODEL"] == "amazon.nova-pro-v1:0"
        assert env["BEDROCK_IMAGE_MODEL"] == "amazon.nova-canvas-v1:0"
        settings = Settings(**{k.lower(): v for k, v in env.items() if k != "AWS_REGION"})
        assert settings.llm_provider == "bedrock"
        assert "OPENAI_API_KEY" not in {s["name"] for s in container.get("secrets") or []}
