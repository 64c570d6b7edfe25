"""Validating structured answers: the model's JSON must parse and match the pydantic model."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import InvalidOutputError, LeadmagnetError

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def parse_answer(text: str, model: type[BaseModel] | None, cost: Any) -> BaseModel | None:
    """The structured answer of a call (None when no ``model`` was asked for); a parse error
    carries the call's ``cost`` (failed calls cost money too)."""
    if model is None:
        return None
    try:
        return parse_structured(text, model)
    except LeadmagnetError as e:
        e.cost = cost  # type: ignore[attr-defined]
        raise


def parse_structured(text: str, model: type[BaseModel]) -> BaseModel:
    """Parse the answer; InvalidOutputError (transient: a retry may do better) when it is not
    valid JSON for the model."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as e:
        raise InvalidOutputError(f"the model's answer is not valid JSON ({e.msg})") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidOutputError(
            f"the model's answer does not match {model.__name__}: {loc}: {first['msg']}"
        ) from None
