"""OpenAPI 3.1 document built from the route declarations and their pydantic models."""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, RootModel
from pydantic.json_schema import models_json_schema

from .api import MAX_JSON_DEPTH, MAX_PATH_PARAM, Api, ApiRoute, ErrorBody

ERROR_TEXT = {
    400: f"Malformed request (invalid_json; too_deep: nested over {MAX_JSON_DEPTH} levels)",
    401: "Missing or invalid API key",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Gone",
    413: "Request body too large",
    415: "Body is not JSON",
    422: "Validation failed (details say which field and why)",
    429: "Too many requests",
    503: "A dependency is unavailable",
}
REF = "#/components/schemas/{model}"


def _models(api: Api) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody}
    for r in api.routes:
        for m in (r.request, r.response, r.query, r.event_stream):
            if m is not None:
                seen[m.__name__] = m
    return list(seen.values())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(r: ApiRoute, defs: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": r.summary,
        "operationId": r.method.lower()
        + "_"
        + re.sub(r"[^a-z0-9]+", "_", r.path.lower()).strip("_"),
        "tags": list(r.tags),
        "responses": {},
    }
    if r.description:
        op["description"] = r.description.strip()
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": MAX_PATH_PARAM},
        }
        for name in _path_params(r.path)
    ]
    if r.query is not None:
        schema = r.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k != "title"},
                }
            )
    for name, schema, text in r.header_params:
        params.append(
            {"name": name, "in": "header", "required": False, "schema": schema, "description": text}
        )
    if params:
        op["parameters"] = params
    if r.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(r.request)}},
        }
    elif r.raw_body_schema is not None:
        op["requestBody"] = {
            "required": True,
            "content": {r.body_media_type: {"schema": r.raw_body_schema}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if r.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(r.response)}}
    if r.event_stream is not None:
        ok["content"] = {"text/event-stream": {"schema": event_stream_schema(r.event_stream)}}
    op["responses"][str(r.status)] = ok
    errors = set(r.errors)
    if _path_params(r.path):
        errors.add(404)  # an id that names nothing (or is longer than MAX_PATH_PARAM)
    if r.auth:
        errors.add(401)
        op["security"] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    if r.request is not None or r.raw_body_schema is not None:
        errors |= {413, 415, 422}
        if r.body_media_type == "application/json":
            errors.add(400)
    if r.query is not None:
        errors.add(422)
    for status in sorted(errors):
        op["responses"][str(status)] = {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    for status, spec in r.extra_responses.items():
        op["responses"][str(status)] = spec
    return op


def event_stream_schema(data: type[BaseModel]) -> dict[str, Any]:
    """One Server-Sent Event of a text/event-stream answer (OpenAPI 3.1 reads ``schema`` of an
    event stream as one event, 3.2 calls it ``itemSchema``): a message with ``id`` = the
    timeline seq and JSON ``data``, or the final ``end`` event with ``{}``. Comments (keep-alives)
    and the ``retry`` block are not events."""
    event_id = {"type": "string", "pattern": "^[0-9]+$"}

    def json_data(schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": schema,
        }

    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["event", "id", "data"],
                "properties": {
                    "event": {"const": "message"},
                    "id": event_id,
                    "data": json_data(_ref(data)),
                    "retry": {"type": "integer"},
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"const": "end"},
                    "id": event_id,
                    "data": json_data({"type": "object", "maxProperties": 0}),
                    "retry": {"type": "integer"},
                },
                "additionalProperties": False,
            },
        ]
    }


def _path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)(?::\w+)?}", path)


def _segment(path: str) -> str:
    return path.split("/")[2] if path.count("/") >= 2 else path


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(p.title() for p in rest)


def _members(tp: Any) -> list[type[BaseModel]]:
    """The models a type stands for: a model itself (a RootModel: what its root holds), each
    member of a union (discriminated or not, inside ``Annotated``), else none."""
    if get_origin(tp) is Annotated:
        return _members(get_args(tp)[0])
    if get_origin(tp) in (Union, UnionType):
        return [m for arg in get_args(tp) for m in _members(arg)]
    if isinstance(tp, type) and issubclass(tp, RootModel):
        return _members(tp.model_fields["root"].annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return []


def _values(model: type[BaseModel]) -> dict[str, str]:
    """What a response offers to later requests: field name -> JSON pointer. Its own fields,
    and the fields of the first item of its lists of objects (a listing offers its first id).
    A union answer (templates: html snake_case, funnel camelCase) offers the fields of every
    member; a pointer its actual answer lacks leaves that link unresolved (not followed)."""
    found: dict[str, str] = {}
    members = _members(model)
    for member in members:
        for name in member.model_fields:
            found.setdefault(name, f"/{name}")
    for member in members:
        for name, info in member.model_fields.items():
            if get_origin(info.annotation) is not list:
                continue
            for item in _members(get_args(info.annotation)[0]):
                for inner in item.model_fields:
                    found.setdefault(inner, f"/{name}/0/{inner}")
    return found


def _lookup(values: dict[str, str], name: str) -> str | None:
    return values.get(name) or values.get(_camel(name))


def _link(source: ApiRoute, target: ApiRoute, op_id: str) -> dict[str, Any] | None:
    """The link from ``source``'s success answer to ``target``, if the answer supplies every
    path parameter of ``target`` or an id its body names."""
    assert source.response is not None
    values = _values(source.response)
    names = _path_params(target.path)
    params = {n: _lookup(values, n) for n in names}
    if any(v is None for v in params.values()):
        return None
    if "slug" in names and _segment(target.path) != _segment(source.path):
        return None  # a slug names something only within its own collection
    body: dict[str, str] = {}
    if target.request is not None and target.method == "POST":  # creation takes ids
        for field in target.request.model_fields:
            pointer = values.get(field)
            if pointer and field != "slug" and field.lower().endswith("id"):
                body[field] = f"$response.body#{pointer}"
    if not names and not body:
        return None
    link: dict[str, Any] = {"operationId": op_id}
    if names:
        link["parameters"] = {f"path.{n}": f"$response.body#{p}" for n, p in params.items()}
    if body:
        link["requestBody"] = body  # merged into the generated body (schemathesis)
    return link


def _links(api: Api, paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from the declarations: an answer links to every operation whose path
    parameters (or body ids) it supplies: ``workflow_id`` → ``/v1/workflows/{workflow_id}``,
    ``runId`` → ``/v1/runs/{run_id}``, a listing's first ``template_id`` → the ``template_id``
    of a new workflow. Stateful fuzzing follows them: list/create → read → PATCH → read."""
    for source in api.routes:
        if source.response is None or not source.path.startswith("/v1/"):
            continue
        links: dict[str, Any] = {}
        for target in api.routes:
            if target is source or not target.path.startswith("/v1/"):
                continue
            op_id = paths[target.path][target.method.lower()]["operationId"]
            link = _link(source, target, op_id)
            if link is not None:
                links[op_id] = link
        if links:
            paths[source.path][source.method.lower()]["responses"][str(source.status)]["links"] = (
                links
            )


def build_openapi(
    api: Api, *, version: str = "0.1.0", server_url: str | None = None
) -> dict[str, Any]:
    models = _models(api)
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs = schemas.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for r in api.routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, defs)
    _links(api, paths)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "leadmagnet gateway",
            "version": version,
            "description": "Public form submissions, job status (capability links) and the "
            "per-tenant admin API. Every error body is an ErrorBody. Limits: a JSON body is at "
            f"most MAX_BODY_BYTES and nested at most {MAX_JSON_DEPTH} levels (400 too_deep); "
            "numbers in free-form objects must be storable (at most 38 significant digits, "
            "magnitude 1E-130..9.99E+125, objects nested at most 32 levels: 422); a form's number "
            "fields take -1e15..1e15 with at most 15 significant digits and 6 decimal places "
            "(422 at body.<field>).",
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API key"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
