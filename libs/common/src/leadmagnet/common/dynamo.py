"""A thin typed wrapper over the low-level DynamoDB client (aiobotocore has no resource API)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .aws import AwsClients

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def values(**kv: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(now=1) -> {':now': {...}}."""
    return {f":{k}": _ser.serialize(_to_dynamo(v)) for k, v in kv.items()}


def is_conditional_failure(err: ClientError) -> bool:
    return bool(err.response["Error"]["Code"] == "ConditionalCheckFailedException")


class DynamoTable:
    """One table: get/put/update/delete/query with plain-Python items."""

    def __init__(self, aws: AwsClients, name: str) -> None:
        self.client = aws.dynamodb
        self.name = name

    async def get(
        self, key: Mapping[str, Any], *, consistent: bool = True
    ) -> dict[str, Any] | None:
        resp = await self.client.get_item(
            TableName=self.name, Key=serialize(key), ConsistentRead=consistent
        )
        item = resp.get("Item")
        return deserialize(item) if item else None

    async def put(self, item: Mapping[str, Any], **kwargs: Any) -> None:
        await self.client.put_item(TableName=self.name, Item=serialize(item), **kwargs)

    async def update(self, key: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        resp = await self.client.update_item(TableName=self.name, Key=serialize(key), **kwargs)
        return deserialize(resp.get("Attributes", {}))

    async def delete(self, key: Mapping[str, Any], **kwargs: Any) -> None:
        await self.client.delete_item(TableName=self.name, Key=serialize(key), **kwargs)

    async def query(self, *, limit: int | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return [item async for item in self.iter_query(limit=limit, **kwargs)]

    async def iter_query(
        self, *, limit: int | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        count = 0
        start: dict[str, Any] | None = None
        while True:
            page_kwargs = dict(kwargs)
            if start:
                page_kwargs["ExclusiveStartKey"] = start
            if limit is not None:
                page_kwargs["Limit"] = max(1, limit - count)
            resp = await self.client.query(TableName=self.name, **page_kwargs)
            for raw in resp.get("Items", []):
                yield deserialize(raw)
                count += 1
                if limit is not None and count >= limit:
                    return
            start = resp.get("LastEvaluatedKey")
            if not start:
                return
