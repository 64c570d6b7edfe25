"""A small typed routing layer over Starlette: every route declares its request, query and
response models and its error statuses, which gives validation, JSON error bodies and the
OpenAPI 3.1 document from one declaration."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leadmagnet.common.errors import ConflictError, NotFoundError, PermanentError
from leadmagnet.common.logging import get_logger
from leadmagnet.common.platform import Platform

log = get_logger()

# Request bodies nested deeper than this are refused before parsing: the JSON parser recurses
# (a 10 KB body of '[' exhausted the stack), and nothing the API takes is nested half as deep.
MAX_JSON_DEPTH = 64
# Path parameters are ids, slugs and tokens: none is longer. A longer one names nothing, and
# would not fit a DynamoDB key (1 KB sort keys): 404 before any lookup.
MAX_PATH_PARAM = 200
# A string (to its closing quote, or to the end when unterminated: every match succeeds, so
# the scan stays linear) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


class ErrorDetail(BaseModel):
    loc: str = Field(description="Where the problem is, e.g. 'body.email' or 'query.limit'.")
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'validation_error'.")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer has this JSON body."""

    error: ErrorInfo


class HTTPError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def error_response(err: HTTPError) -> JSONResponse:
    body = ErrorBody(error=ErrorInfo(code=err.code, message=err.message, details=err.details))
    return JSONResponse(body.model_dump(mode="json"), status_code=err.status, headers=err.headers)


def validation_details(e: ValidationError, prefix: str) -> list[ErrorDetail]:
    out = []
    for item in e.errors(include_url=False):
        loc = ".".join([prefix, *(str(p) for p in item["loc"])])
        out.append(ErrorDetail(loc=loc, message=item["msg"]))
    return out


class Strict(BaseModel):
    """Request models refuse unknown fields: a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ApiContext:
    request: Request
    platform: Platform
    tenant_id: str | None
    body: Any = None
    query: Any = None

    @property
    def path(self) -> dict[str, str]:
        return dict(self.request.path_params)

    def require_tenant(self) -> str:
        assert self.tenant_id is not None
        return self.tenant_id


Endpoint = Callable[[ApiContext], Awaitable[Any]]


@dataclass
class ApiRoute:
    method: str
    path: str
    endpoint: Endpoint
    summary: str
    tags: tuple[str, ...]
    status: int = 200
    request: type[BaseModel] | None = None
    raw_body_schema: dict[str, Any] | None = None  # for dynamic bodies (form submissions)
    # Non-JSON bodies (uploads) are read by the endpoint itself; this only documents them.
    body_media_type: str = "application/json"
    body_limit: int | None = None  # overrides MAX_BODY_BYTES for this route
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    # Request headers the endpoint reads (documented as OpenAPI header parameters).
    header_params: tuple[tuple[str, dict[str, Any], str], ...] = ()  # (name, schema, text)
    # For text/event-stream answers: the model of each message's JSON data.
    event_stream: type[BaseModel] | None = None
    auth: bool = False
    description: str = ""
    extra_responses: dict[int, dict[str, Any]] = field(default_factory=dict)


class Api:
    def __init__(self) -> None:
        self.routes: list[ApiRoute] = []

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        def register(fn: Endpoint) -> Endpoint:
            self.routes.append(
                ApiRoute(
                    method=method, path=path, endpoint=fn, description=fn.__doc__ or "", **kwargs
                )
            )
            return fn

        return register

    def starlette_routes(self) -> list[Route]:
        grouped: dict[str, dict[str, ApiRoute]] = {}
        for r in self.routes:
            grouped.setdefault(r.path, {})[r.method] = r
        return [
            Route(path, self._dispatcher(methods), methods=list(methods))
            for path, methods in grouped.items()
        ]

    def _dispatcher(self, methods: dict[str, ApiRoute]) -> Callable[[Request], Awaitable[Response]]:
        async def dispatch(request: Request) -> Response:
            route = methods[request.method if request.method != "HEAD" else "GET"]
            try:
                return await _handle(route, request)
            except HTTPError as e:
                return error_response(e)

        return dispatch


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, "payload_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (checked without recursion;
    for malformed text the answer only has to be safe, json.loads refuses it anyway)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, at C speed
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        lexeme = m.group()
        if lexeme in "[{":
            depth += 1
            if depth > limit:
                return True
        elif lexeme in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_request_json(raw: bytes | str) -> Any:
    """The one parser for JSON a client sent: nesting bounded (400 ``too_deep``), NaN and
    Infinity refused, any other failure 400 ``invalid_json``; every error names ``body``."""
    try:
        # As json.loads(bytes) does: UTF-8 (a BOM allowed), or UTF-16/32 by their first bytes.
        text = raw.decode(json.detect_encoding(raw)) if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise _bad_json("invalid_json", f"request body is not UTF-8: {e}") from None
    if json_depth_exceeds(text):
        raise _bad_json(
            "too_deep", f"request body is nested more than {MAX_JSON_DEPTH} levels deep"
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise _bad_json("invalid_json", f"request body is not valid JSON: {e}") from None


def _bad_json(code: str, message: str) -> HTTPError:
    return HTTPError(400, code, message, [ErrorDetail(loc="body", message=message)])


_DIGITS = re.compile(r"[0-9]{1,18}")


def bounded_int(text: str, *, maximum: int) -> int | None:
    """``text`` as an int in 0..maximum, or None. ASCII digits only (str.isdigit() takes '²',
    which int() refuses) and length-checked before converting (int() of thousands of digits
    raises, and no store can hold them)."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


async def parse_json(request: Request, limit: int) -> Any:
    ctype = request.headers.get("content-type", "")
    raw = await read_body(request, limit)
    request.state.raw_body = raw  # signature checks need the exact bytes
    if "json" not in ctype.split(";")[0]:
        raise HTTPError(
            415, "unsupported_media_type", "send the body as JSON (content-type: application/json)"
        )
    return loads_request_json(raw)


async def authenticate(request: Request, platform: Platform) -> str:
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    key = key or request.headers.get("x-api-key", "").strip()
    if not key:
        raise HTTPError(
            401,
            "unauthenticated",
            "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"www-authenticate": "Bearer"},
        )
    tenant_id = await platform.tenants.authenticate(key)
    if tenant_id is None:
        raise HTTPError(
            401,
            "invalid_api_key",
            "the API key is not valid",
            headers={"www-authenticate": "Bearer"},
        )
    return tenant_id


async def _handle(route: ApiRoute, request: Request) -> Response:
    platform: Platform = request.app.state.platform
    if any(len(v) > MAX_PATH_PARAM for v in request.path_params.values()):
        raise HTTPError(
            404, "not_found", f"no such resource (ids are at most {MAX_PATH_PARAM} long)"
        )
    tenant_id = await authenticate(request, platform) if route.auth else None
    ctx = ApiContext(request=request, platform=platform, tenant_id=tenant_id)
    if route.query is not None:
        try:
            ctx.query = route.query.model_validate(dict(request.query_params))
        except ValidationError as e:
            raise HTTPError(
                422, "validation_error", "invalid query parameters", validation_details(e, "query")
            ) from None
    json_body = route.body_media_type == "application/json"
    if json_body and (route.request is not None or route.raw_body_schema is not None):
        payload = await parse_json(request, route.body_limit or platform.settings.max_body_bytes)
        if route.request is not None:
            try:
                ctx.body = route.request.model_validate(payload)
            except ValidationError as e:
                raise HTTPError(
                    422, "validation_error", "invalid request body", validation_details(e, "body")
                ) from None
        else:
            ctx.body = payload
    try:
        result = await route.endpoint(ctx)
    except NotFoundError as e:
        raise HTTPError(404, e.code, e.message) from None
    except ConflictError as e:
        raise HTTPError(409, e.code, e.message) from None
    except PermanentError as e:
        raise HTTPError(422, e.code, e.message) from None
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        return JSONResponse(result.model_dump(mode="json"), status_code=route.status)
    return JSONResponse(result, status_code=route.status)
