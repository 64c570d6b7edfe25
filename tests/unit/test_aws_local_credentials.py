"""Local endpoints (moto, LocalStack on loopback) work without configured credentials; clients
bound for AWS never get the dummy ones (leadmagnet.common.aws)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadmagnet.common.aws import LOCAL_CREDENTIALS, AwsClients, endpoint_for, is_local_endpoint
from leadmagnet.common.settings import Settings

CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for service in ("SQS", "SNS", "DYNAMODB", "S3", "SES", "SECRETS_MANAGER", "STS"):
        monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service}", raising=False)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:4566", True),
        ("http://localhost:5000/", True),
        ("http://[::1]:4566", True),
        ("https://sqs.us-east-1.amazonaws.com", False),
        ("http://127.0.0.1.nip.io:4566", False),
        ("http://10.0.0.5:4566", False),
        (None, False),
        ("", False),
    ],
)
def test_what_counts_as_a_local_endpoint(url: str | None, local: bool) -> None:
    assert is_local_endpoint(url) is local


def test_per_service_variables_win() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localhost:7000",
    }
    assert endpoint_for("sqs", env) == "http://127.0.0.1:4566"
    assert endpoint_for("dynamodb", env) == "http://127.0.0.1:5000"
    assert endpoint_for("secretsmanager", env) == "http://localhost:7000"
    assert endpoint_for("sqs", {}) is None


async def _access_key(client: object) -> str | None:
    creds = client._request_signer._credentials  # type: ignore[attr-defined]
    return None if creds is None else str(creds.access_key)


async def test_local_endpoint_gets_dummy_credentials(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SES", "https://email.us-east-1.amazonaws.com")
    async with AwsClients(Settings()) as aws:
        assert await _access_key(aws.sqs) == LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]
        assert await _access_key(aws.dynamodb) == LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]
        assert await _access_key(aws.ses) is None  # bound for AWS: no dummy credentials


async def test_configured_credentials_are_kept(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    async with AwsClients(Settings()) as aws:
        assert await _access_key(aws.sqs) == "AKIAREALONE"


async def test_aws_endpoints_never_get_dummy_credentials(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    async with AwsClients(Settings()) as aws:
        assert await _access_key(aws.sqs) is None
