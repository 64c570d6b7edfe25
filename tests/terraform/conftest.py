"""Terraform runs offline against the provider mirror; missing tools fail loudly, never skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leadmagnet.testing.terraform import TERRAFORM_DIR, Terraform, missing_prerequisites


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
    """``terraform apply`` of envs/local against the session's moto server: (prefix, outputs)."""
    import secrets

    prefix = f"tf{secrets.token_hex(3)}"
    tf = Terraform(TERRAFORM_DIR / "envs" / "local", tmp_path_factory.mktemp("tf-local"))
    tf.init()
    tf.apply({"endpoint": aws_endpoint, "resource_prefix": prefix})
    return prefix, tf.outputs()
