"""The benchmark's DynamoDB request units: metered from item sizes as on-demand DynamoDB bills
them (writes per KiB of the larger image, reads per 4 KiB, eventual reads half), not one per
call. The official SDK against the embedded endpoint, in this process."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from leadmagnet.testing.moto_server import AwsCallCounter, moto_server


@pytest.fixture
def metered() -> Iterator[tuple[Any, AwsCallCounter]]:
    counter = AwsCallCounter()
    with moto_server(counter=counter) as endpoint:
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=boto3.session.Config(user_agent_extra="leadmagnet/tester"),
        )
        yield client, counter


def units_since(counter: AwsCallCounter, before: dict[Any, float], operation: str) -> float:
    key = ("tester", "dynamodb", operation)
    return counter.units_snapshot().get(key, 0.0) - before.get(key, 0.0)


def test_units_follow_item_sizes(metered: tuple[Any, AwsCallCounter]) -> None:
    client, counter = metered
    table = f"units-{secrets.token_hex(4)}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "job"}}

    def measured(operation: str, call: Any) -> float:
        before = counter.units_snapshot()
        call()
        return units_since(counter, before, operation)

    # 2.5 KiB written: 3 write units; then grown to 4.5 KiB: the larger image, 5.
    put = measured(
        "PutItem",
        lambda: client.put_item(TableName=table, Item={**key, "body": {"S": "x" * 2500}}),
    )
    assert put == 3
    grow = measured(
        "UpdateItem",
        lambda: client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET more = :m",
            ExpressionAttributeValues={":m": {"S": "y" * 2100}},
        ),
    )
    assert grow == 5
    # 4.6 KiB read: two 4 KiB units strongly consistent, half that eventually consistent.
    strong = measured(
        "GetItem", lambda: client.get_item(TableName=table, Key=key, ConsistentRead=True)
    )
    assert strong == 2
    eventual = measured("GetItem", lambda: client.get_item(TableName=table, Key=key))
    assert eventual == 1
    # A small item still costs one unit; a missing one read costs the minimum.
    small = measured(
        "PutItem", lambda: client.put_item(TableName=table, Item={"pk": {"S": "small"}})
    )
    assert small == 1
    batch = measured(
        "BatchGetItem",
        lambda: client.batch_get_item(
            RequestItems={
                table: {
                    "Keys": [key, {"pk": {"S": "small"}}, {"pk": {"S": "none"}}],
                    "ConsistentRead": True,
                }
            }
        ),
    )
    assert batch == 2 + 1 + 1
    # Deleting the big item: its size before, 5.
    assert measured("DeleteItem", lambda: client.delete_item(TableName=table, Key=key)) == 5
    # Calls are still counted as calls.
    calls, _, _ = counter.caller_snapshot()
    assert calls[("tester", "dynamodb", "PutItem")] == 2
