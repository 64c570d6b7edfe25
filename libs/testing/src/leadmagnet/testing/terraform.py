"""Run the Terraform CLI offline (provider from the local filesystem mirror) for tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[5]
TERRAFORM_DIR = REPO / "deploy" / "terraform"
CLI_CONFIG = TERRAFORM_DIR / "offline.tfrc"
PROVIDER_MIRROR = Path("/opt/tf-plugins/registry.terraform.io/hashicorp/aws")

# envs/local's per-service endpoint variables and the SDK variable each one mirrors.
LOCAL_ENDPOINT_VARIABLES = {
    "dynamodb_endpoint": "AWS_ENDPOINT_URL_DYNAMODB",
    "sqs_endpoint": "AWS_ENDPOINT_URL_SQS",
    "sns_endpoint": "AWS_ENDPOINT_URL_SNS",
    "s3_endpoint": "AWS_ENDPOINT_URL_S3",
    "ses_endpoint": "AWS_ENDPOINT_URL_SES",
    "sts_endpoint": "AWS_ENDPOINT_URL_STS",
    "iam_endpoint": "AWS_ENDPOINT_URL_IAM",
    "secretsmanager_endpoint": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
}


def local_endpoint_variables(
    endpoint: str, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """envs/local variables for this process's endpoints: ``endpoint`` plus every service the
    environment points elsewhere (LocalStack runs: ``AWS_ENDPOINT_URL_DYNAMODB`` at moto)."""
    env = dict(os.environ) if environ is None else environ
    variables = {"endpoint": endpoint}
    for name, sdk_variable in LOCAL_ENDPOINT_VARIABLES.items():
        if env.get(sdk_variable):
            variables[name] = env[sdk_variable]
    return variables


def missing_prerequisites() -> str | None:
    """Why Terraform cannot run here, or None. Tests fail (not skip) on this in CI."""
    if shutil.which("terraform") is None:
        return "the terraform binary is not on PATH"
    if not PROVIDER_MIRROR.is_dir():
        return f"the hashicorp/aws provider mirror {PROVIDER_MIRROR} is missing"
    return None


@dataclass
class Terraform:
    """One configuration directory with its own data dir and state file (outside the repo)."""

    config_dir: Path
    work_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(CLI_CONFIG),
            "TF_DATA_DIR": str(self.work_dir / ".terraform"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }

    def run(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run(
            ["terraform", *args],
            cwd=self.config_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed ({proc.returncode}) in {self.config_dir}:\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        return proc.stdout

    @property
    def state(self) -> str:
        return f"-state={self.work_dir / 'terraform.tfstate'}"

    def init(self, *, backend: bool = True) -> None:
        self.run("init", "-input=false", "-no-color", *(() if backend else ("-backend=false",)))

    def apply(self, variables: dict[str, str]) -> None:
        var_args = [f"-var={k}={v}" for k, v in variables.items()]
        self.run("apply", "-auto-approve", "-input=false", "-no-color", self.state, *var_args)

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json", "-no-color", self.state))
        return {k: v["value"] for k, v in raw.items()}

    def plan_json(self, variables: dict[str, str]) -> dict[str, Any]:
        plan = self.work_dir / "plan.bin"
        var_args = [f"-var={k}={v}" for k, v in variables.items()]
        self.run("plan", "-input=false", "-no-color", f"-out={plan}", *var_args)
        return dict(json.loads(self.run("show", "-json", "-no-color", str(plan))))
