"""A thin typed wrapper over the low-level DynamoDB client (aiobotocore has no resource API)."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import AfterValidator, BaseModel, ValidationError

from .aws import AwsClients
from .errors import PermanentError, TransientError
from .logging import get_logger


@functools.cache
def _codec() -> tuple[Any, Any]:
    """boto3's (TypeSerializer, TypeDeserializer), imported on first use: importing boto3 pulls
    in s3transfer and multiprocessing (~2 MiB) that a process without DynamoDB items never needs."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


MAX_NESTING = 32  # DynamoDB's limit for nested maps and lists
MAX_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125")
MIN_NUMBER = Decimal("1E-130")


def storable_problem(value: Any, path: str = "$", depth: int = 0) -> str | None:
    """Why a JSON value cannot be stored as a DynamoDB attribute (None if it can): empty or
    non-string object keys, numbers DynamoDB cannot hold (NaN, infinities, more than 38 digits,
    out of range), nesting deeper than 32 levels."""
    if depth > MAX_NESTING:
        return f"{path}: nested more than {MAX_NESTING} levels deep"
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                return f"{path}: object keys must be non-empty strings"
            problem = storable_problem(v, f"{path}.{k}", depth + 1)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            problem = storable_problem(v, f"{path}[{i}]", depth + 1)
            if problem:
                return problem
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{path}: not a finite number"
        number = Decimal(str(value))
        if len(number.as_tuple().digits) > 38:
            return f"{path}: more than 38 significant digits"
        if number and not (MIN_NUMBER <= abs(number) <= MAX_NUMBER):
            return f"{path}: outside the storable number range"
    return None


def _check_storable(value: Any) -> Any:
    problem = storable_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A free-form JSON object a request may carry into a stored item (metadata, options...).
StorableObject = Annotated[dict[str, Any], AfterValidator(_check_storable)]


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        # Nested None is kept (NULL): a stored JSON document keeps its shape. Only top-level
        # None means "no attribute" (serialize() below), e.g. for absent index keys.
        return {k: _to_dynamo(v) for k, v in value.items()}
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


class UnstorableError(PermanentError):
    """A value DynamoDB cannot hold reached a write: refused saying where (the gateway answers
    422, a worker fails the job) instead of an opaque serializer or service error."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"cannot store {problem}", code="unstorable_value")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    problem = storable_problem(item)  # the last guard: requests are checked before this
    if problem:
        raise UnstorableError(problem)
    ser = _codec()[0]
    return {k: ser.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    de = _codec()[1]
    return {k: _from_dynamo(de.deserialize(v)) for k, v in item.items()}


def values(**kv: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(now=1) -> {':now': {...}}."""
    ser = _codec()[0]
    return {f":{k}": ser.serialize(_to_dynamo(v)) for k, v in kv.items()}


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
        if any(v == "" for v in key.values()):
            return None  # no item has an empty key (DynamoDB refuses to even look)
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


async def batch_put(client: Any, puts: list[tuple[str, Mapping[str, Any]]]) -> None:
    """Put items of one or more tables in one BatchWriteItem (up to 25; no conditions), and
    again what DynamoDB leaves unprocessed under load (backing off; TransientError if it still
    refuses)."""
    request: dict[str, list[dict[str, Any]]] = {}
    for table, item in puts:
        request.setdefault(table, []).append({"PutRequest": {"Item": serialize(item)}})
    for attempt in range(5):
        resp = await client.batch_write_item(RequestItems=request)
        request = resp.get("UnprocessedItems") or {}
        if not request:
            return
        await asyncio.sleep(0.05 * 2**attempt)
    raise TransientError("DynamoDB left items unprocessed", code="throttled")


async def batch_get(
    client: Any, gets: list[tuple[str, Mapping[str, Any], bool]]
) -> list[dict[str, Any] | None]:
    """Items of one or more tables in one BatchGetItem (up to 100 keys; ``(table, key,
    consistent)`` each, the consistency per table), in the order asked (None: no such item);
    again what DynamoDB leaves unprocessed (backing off; TransientError if it still refuses)."""
    request: dict[str, dict[str, Any]] = {}
    for table, key, consistent in gets:
        entry = request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
        entry["ConsistentRead"] = entry["ConsistentRead"] or consistent
        entry["Keys"].append(serialize(key))
    found: dict[str, list[dict[str, Any]]] = {}
    for attempt in range(5):
        resp = await client.batch_get_item(RequestItems=request)
        for table, items in (resp.get("Responses") or {}).items():
            found.setdefault(table, []).extend(deserialize(i) for i in items)
        request = resp.get("UnprocessedKeys") or {}
        if not request:
            break
        await asyncio.sleep(0.05 * 2**attempt)
    else:
        raise TransientError("DynamoDB left keys unprocessed", code="throttled")
    return [
        next(
            (i for i in found.get(table, []) if all(i.get(k) == v for k, v in key.items())),
            None,
        )
        for table, key, _ in gets
    ]


M = TypeVar("M", bound=BaseModel)


def parse_stored(model: type[M], item: Mapping[str, Any]) -> M | None:
    """A stored item as ``model``, or None (logged) when it does not validate: one bad item
    (written before a validation existed, or by hand) must not break every read around it."""
    try:
        return model.model_validate(item)
    except ValidationError as e:
        get_logger().error(
            "store.invalid_item",
            model=model.__name__,
            key={k: item.get(k) for k in ("tenant_id", "workflow_id", "slug", "job_id", "sk")},
            errors=[".".join(map(str, x["loc"])) for x in e.errors(include_url=False)],
        )
        return None


def parse_all_stored(model: type[M], items: list[dict[str, Any]]) -> list[M]:
    """Every valid item of a listing; invalid ones are skipped and logged (see parse_stored)."""
    return [parsed for item in items if (parsed := parse_stored(model, item)) is not None]
