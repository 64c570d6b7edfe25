"""What AwsClients configures away per call: the User-Agent is built once per feature set (and
is the header botocore would build), the SDK's parameter check is off for our clients only, and
structlog loads without rich."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore.context import start_as_current_context
from botocore.useragent import UserAgentString, register_feature_id
from botocore.validate import ParamValidationDecorator

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.settings import Settings

pytestmark = pytest.mark.usefixtures("isolated_aws_env")


@pytest.fixture(autouse=True)
def service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADMAGNET_SERVICE", "reporter")


async def test_the_cached_user_agent_is_the_one_botocore_builds_for_each_feature_set() -> None:
    async with AwsClients(Settings(), lazy=True) as aws:
        creator = (await aws.client("sqs"))._user_agent_creator
        plain = creator.to_string()
        assert plain == UserAgentString.to_string(creator)
        assert "leadmagnet/reporter" in plain
        assert creator.to_string() is plain  # built once
        with start_as_current_context():
            register_feature_id("PAGINATOR")
            paginated = creator.to_string()
            assert paginated == UserAgentString.to_string(creator)
        assert paginated != plain
        assert creator.to_string() == plain


async def test_parameter_validation_is_off_for_our_clients_and_on_for_extra_ones() -> None:
    async with AwsClients(Settings(), lazy=True) as aws:
        dynamodb = await aws.client("dynamodb")
        bedrock = await aws.extra_client("bedrock-runtime", region_name="us-east-1")
        assert not isinstance(dynamodb._serializer, ParamValidationDecorator)
        assert isinstance(bedrock._serializer, ParamValidationDecorator)


def test_structlog_loads_without_rich_and_rich_still_imports_afterwards() -> None:
    code = (
        "import sys, leadmagnet.common.logging, structlog.dev;"
        "assert 'rich' not in sys.modules, 'rich loaded';"
        "assert structlog.dev.rich is None;"
        "import rich"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
