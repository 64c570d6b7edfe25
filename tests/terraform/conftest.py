"""Terraform runs offline against the provider mirror; missing tools fail loudly, never skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leadmagnet.testing.terraform import (
    TERRAFORM_DIR,
    Terraform,
    local_endpoint_variables,
    missing_prerequisites,
)


@pytest.fixture(scope="session")
def terraform_ready() -> None:
    reason = missing_prerequisites()
    if reason:
        pytest.fail(f"Terraform checks cannot run: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tf-plugin-cache")


@pytest.fixture(scope="session")
def local_deploy(
    terraform_ready: None, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Any]]:
    """``terraform apply`` of envs/local against the session's endpoint(s): (prefix, outputs).
    With ``AWS_ENDPOINT_URL_<SERVICE>`` set (LocalStack + moto for DynamoDB), those services go
    to their own endpoints, as the services do."""
    import secrets

    prefix = f"tf{secrets.token_hex(3)}"
    tf = Terraform(TERRAFORM_DIR / "envs" / "local", tmp_path_factory.mktemp("tf-local"))
    tf.init()
    tf.apply({**local_endpoint_variables(aws_endpoint), "resource_prefix": prefix})
    return prefix, tf.outputs()


@pytest.fixture(scope="session")
def dynamodb_endpoint(aws_endpoint: str) -> str:
    """Where DynamoDB is: its own SDK variable when set (LocalStack runs), else the endpoint."""
    import os

    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or aws_endpoint
