"""What a request may carry into a stored item: found by fuzzing the gateway, where an empty
object key or a huge number turned into a 500 from the storage layer."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from leadmagnet.common.dynamo import StorableObject, deserialize, serialize, storable_problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"": 1}, "$: object keys must be non-empty strings"),
        ({"a": {"": 1}}, "$.a: object keys must be non-empty strings"),
        ({"a": float("nan")}, "$.a: not a finite number"),
        ({"a": [1, float("inf")]}, "$.a[1]: not a finite number"),
        ({"a": 1.5e300}, "$.a: outside the storable number range"),
        ({"a": 10**40}, "$.a: more than 38 significant digits"),
        ({"a": 1e-200}, "$.a: outside the storable number range"),
    ],
)
def test_unstorable_values_say_where(value: object, problem: str) -> None:
    assert storable_problem(value) == problem


def test_deep_nesting_is_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    assert "nested more than 32 levels" in (storable_problem(deep) or "")


def test_ordinary_json_round_trips_with_its_nulls() -> None:
    doc = {"a": None, "b": [None, 1, 2.5, True, "x"], "c": {"d": None, "e": 0}}
    assert storable_problem(doc) is None
    assert deserialize(serialize({"doc": doc})) == {"doc": doc}


def test_the_request_type_rejects_with_a_message() -> None:
    class Body(BaseModel):
        metadata: StorableObject

    with pytest.raises(ValidationError, match="object keys must be non-empty"):
        Body.model_validate({"metadata": {"": 1}})
    assert Body.model_validate({"metadata": {"k": [1, {"x": None}]}}).metadata == {
        "k": [1, {"x": None}]
    }


def test_a_listing_keeps_the_valid_items_and_skips_a_bad_one() -> None:
    from pydantic import BaseModel

    from leadmagnet.common.dynamo import parse_all_stored, parse_stored

    class Item(BaseModel):
        name: str

    items = [{"name": "a"}, {"name": None}, {"name": "c"}]
    assert [i.name for i in parse_all_stored(Item, items)] == ["a", "c"]
    assert parse_stored(Item, {"name": None}) is None
