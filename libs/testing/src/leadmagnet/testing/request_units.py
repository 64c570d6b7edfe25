"""DynamoDB request units of each call the embedded endpoint serves, for the benchmark's prices.

On-demand DynamoDB bills by item size, not by call: a write costs one write unit per KiB of the
larger of the item before and after it (at least one), a read one read unit per 4 KiB
(strongly consistent; half for an eventually consistent read), a transaction twice that. A job
item that carries its timeline and its files' records grows to a few KiB, so counting one unit
per call would understate what the platform costs. moto answers with fixed ``ConsumedCapacity``
figures, so the units are metered here from moto's own items: the items a write touches are
sized before and after it, a read's from what it returned.

Approximations, stated: a Query or Scan is metered on the items it returned (DynamoDB meters
those it read before a filter); item sizes are moto's (names plus values, numbers by their
digits), close to DynamoDB's documented sizing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of an item in DynamoDB JSON (``{"name": {"S": "x"}}``), as moto sizes it."""
    if not item:
        return 0
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(name.encode()) + DynamoType(value).size() for name, value in item.items())


def write_units(*sizes: int) -> int:
    return max(1, math.ceil(max(sizes, default=0) / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass
class Touched:
    """The items a write will touch, sized before it: (table, key) -> bytes."""

    before: dict[tuple[str, str], int] = field(default_factory=dict)


class RequestUnitMeter:
    """Meters one DynamoDB call: ``before`` (writes: size what they will touch), then
    ``units`` with the response. Reads moto's backend of the endpoint's own process."""

    def __init__(self, region: str) -> None:
        self.region = region

    def _backend(self) -> Any:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]

    def _stored_size(self, table: str, key: dict[str, Any]) -> int:
        try:
            backend = self._backend()
            stored = backend.get_table(table)
            keys = {stored.hash_key_attr: key[stored.hash_key_attr]}
            if stored.range_key_attr:
                keys[stored.range_key_attr] = key[stored.range_key_attr]
            item = backend.get_item(table, keys)
        except Exception:  # an unknown table or a malformed key: the call fails anyway
            return 0
        return int(item.size()) if item is not None else 0

    def _writes(
        self, operation: str, payload: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any], int]]:
        """(table, key or item, size of the item it writes: -1 for "as stored after") each."""
        if operation == "PutItem":
            item = payload.get("Item") or {}
            return [(payload.get("TableName", ""), item, item_size(item))]
        if operation in ("UpdateItem", "DeleteItem"):
            after = -1 if operation == "UpdateItem" else 0
            return [(payload.get("TableName", ""), payload.get("Key") or {}, after)]
        if operation == "BatchWriteItem":
            writes = []
            for table, requests in (payload.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"].get("Item") or {}
                        writes.append((table, item, item_size(item)))
                    elif "DeleteRequest" in request:
                        writes.append((table, request["DeleteRequest"].get("Key") or {}, 0))
            return writes
        if operation == "TransactWriteItems":
            writes = []
            for entry in payload.get("TransactItems") or []:
                for kind, spec in entry.items():
                    table = spec.get("TableName", "")
                    if kind == "Put":
                        item = spec.get("Item") or {}
                        writes.append((table, item, item_size(item)))
                    else:  # Update, Delete, ConditionCheck
                        writes.append((table, spec.get("Key") or {}, -1 if kind == "Update" else 0))
            return writes
        return []

    def before(self, operation: str, payload: dict[str, Any]) -> Touched:
        touched = Touched()
        for table, key, _ in self._writes(operation, payload):
            touched.before[(table, json.dumps(key, sort_keys=True))] = self._stored_size(table, key)
        return touched

    def units(
        self, operation: str, payload: dict[str, Any], touched: Touched, response: bytes
    ) -> tuple[float, float]:
        """(write units, read units) of the call."""
        if operation in WRITES:
            written = 0
            for table, key, after in self._writes(operation, payload):
                before = touched.before.get((table, json.dumps(key, sort_keys=True)), 0)
                if after < 0:
                    after = self._stored_size(table, key)
                written += write_units(before, after)
            return float(written * (2 if operation == "TransactWriteItems" else 1)), 0.0
        if operation not in READS:
            return 0.0, 0.0
        try:
            body = json.loads(response or b"{}")
        except ValueError:
            return 0.0, 0.0
        if "__type" in body:  # an error: nothing was read
            return 0.0, 0.0
        consistent = bool(payload.get("ConsistentRead"))
        if operation == "GetItem":
            return 0.0, read_units(item_size(body.get("Item")), consistent=consistent)
        if operation in ("Query", "Scan"):
            size = sum(item_size(i) for i in body.get("Items") or [])
            return 0.0, read_units(size, consistent=consistent)
        if operation == "BatchGetItem":
            total = 0.0
            for table, request in (payload.get("RequestItems") or {}).items():
                found = (body.get("Responses") or {}).get(table) or []
                strong = bool(request.get("ConsistentRead"))
                total += sum(read_units(item_size(i), consistent=strong) for i in found)
                missing = len(request.get("Keys") or []) - len(found)
                total += max(0, missing) * read_units(0, consistent=strong)
            return 0.0, total
        # TransactGetItems: twice a strongly consistent read of each item returned
        found = [r.get("Item") for r in body.get("Responses") or []]
        return 0.0, 2 * sum(read_units(item_size(i), consistent=True) for i in found)
