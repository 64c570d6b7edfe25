"""OpenAPI 3.1 document built from the route declarations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api import Api, ApiRoute, ErrorBody

ERROR_TEXT = {
    400: "Malformed request",
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
        for m in (r.request, r.response, r.query):
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
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)(?::\w+)?}", r.path)
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
    op["responses"][str(r.status)] = ok
    errors = set(r.errors)
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


def build_openapi(
    api: Api, *, version: str = "0.1.0", server_url: str | None = None
) -> dict[str, Any]:
    models = _models(api)
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs = schemas.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for r in api.routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, defs)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "leadmagnet gateway",
            "version": version,
            "description": "Public form submissions, job status (capability links) and the "
            "per-tenant admin API. Every error body is an ErrorBody.",
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
