"""The trimmed botocore data (``leadmagnet.common.aws_data``, written by ``make install``): a
client made on it is the client the stock data makes, for every service we call, and the stock
data is used whenever the copy is absent, stale or overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore
import pytest
from aiobotocore.session import AioSession, get_session
from botocore.model import Shape

from leadmagnet.common.aws_data import (
    DATA_SERVICES,
    STAMP,
    TrimmedDataLoader,
    trimmed_data_directory,
    use_trimmed_data,
    write_trimmed_data,
)

REGIONS = ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("aws") / "botocore-data"
    write_trimmed_data(directory)
    return directory


@pytest.fixture(autouse=True)
def no_data_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _shape(shape: Shape | None, seen: frozenset[str] = frozenset()) -> Any:
    """Everything about a shape the SDK serialises and parses by (documentation aside)."""
    if shape is None:
        return None
    if shape.name in seen:  # recursive shapes
        return shape.name
    seen = seen | {shape.name}
    described: dict[str, Any] = {
        "type": shape.type_name,
        "serialization": shape.serialization,
        "metadata": {k: v for k, v in shape.metadata.items() if k != "documentation"},
    }
    if shape.type_name == "structure":
        members = shape.members
        described["members"] = {name: _shape(m, seen) for name, m in members.items()}
    elif shape.type_name == "list":
        described["member"] = _shape(shape.member, seen)
    elif shape.type_name == "map":
        described["key"] = _shape(shape.key, seen)
        described["value"] = _shape(shape.value, seen)
    return described


def _client_description(client: Any) -> dict[str, Any]:
    model = client.meta.service_model
    return {
        "api_version": model.api_version,
        "metadata": model.metadata,
        "client_context_parameters": [(p.name, p.type) for p in model.client_context_parameters],
        "operations": {
            name: (
                _shape(model.operation_model(name).input_shape),
                _shape(model.operation_model(name).output_shape),
                model.operation_model(name).http,
            )
            for name in model.operation_names
        },
    }


async def _describe(session: AioSession, service: str, region: str) -> dict[str, Any]:
    async with session.create_client(
        service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b"
    ) as client:
        return {
            "model": _client_description(client),
            "endpoint_url": client.meta.endpoint_url,
            # The rulesets' inputs: a non-builtin endpoints.json would add SDK::Endpoint.
            "ruleset_builtins": {
                key: value.__qualname__ if callable(value) else value  # per-client bound methods
                for key, value in client._ruleset_resolver._builtins.items()
            },
        }


@pytest.mark.parametrize("service", DATA_SERVICES)
async def test_a_client_on_the_trimmed_data_is_the_stock_client(data: Path, service: str) -> None:
    trimmed = get_session()
    assert use_trimmed_data(trimmed, data)
    stock = get_session()
    for region in REGIONS:
        assert await _describe(trimmed, service, region) == await _describe(stock, service, region)
    loader = trimmed.get_component("data_loader")
    _, endpoints_path = loader.load_data_with_path("endpoints")
    _, model_path = loader.load_data_with_path(
        f"{service}/{loader.determine_latest_version(service, 'service-2')}/service-2"
    )
    assert Path(endpoints_path).parent == data.resolve()  # the copy was read, not botocore's
    assert Path(model_path).is_relative_to(data.resolve())


def test_the_copy_keeps_only_our_services_and_no_documentation(data: Path) -> None:
    stock = get_session().get_component("data_loader")
    copy = TrimmedDataLoader(data)
    endpoints = copy.load_data("endpoints")
    assert "ec2" not in endpoints["partitions"][0]["services"]
    assert "email" in endpoints["partitions"][0]["services"]  # SES's endpoint prefix
    for service in DATA_SERVICES:
        model = copy.load_service_model(service, "service-2")
        assert "documentation" not in str(model.get("operations", {}))
        assert model["metadata"] == stock.load_service_model(service, "service-2")["metadata"]


def test_the_stock_data_is_used_when_the_copy_is_absent_stale_or_overridden(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert trimmed_data_directory(data) == data
    assert trimmed_data_directory(tmp_path / "missing") is None
    stale = tmp_path / "stale"
    write_trimmed_data(stale, ("sqs",))
    (stale / STAMP).write_text("0.0.1\n")  # written by another botocore
    assert trimmed_data_directory(stale) is None
    session = get_session()
    assert not use_trimmed_data(session, stale)
    assert not isinstance(session.get_component("data_loader"), TrimmedDataLoader)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))  # the user's own models win
    assert trimmed_data_directory(data) is None
    assert botocore.__version__ in (data / STAMP).read_text()
