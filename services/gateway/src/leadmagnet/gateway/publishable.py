"""Publishable keys at the edge: the one place a browser call with a ``pk_live_…`` key is
checked, and the CORS answers of the routes that take one.

``require_publishable(request, platform, flow)`` reads the key from ``Authorization: Bearer
pk_…``, ``X-Publishable-Key`` or the ``key``/``pk`` query parameter (WebSockets and
``navigator.sendBeacon`` cannot set headers), then checks, in this order:

1. the key exists and is not revoked (401 ``invalid_publishable_key``; a strongly consistent
   read, so a revocation is effective at once);
2. the request's ``Origin`` is one of the key's allowed origins, exactly
   (``scheme://host[:port]``; 403 ``origin_not_allowed``). A request **without** ``Origin`` (not a
   browser, or a same-origin GET) is refused unless the key allows ``"*"``;
3. the key is for ``flow`` (403 ``wrong_flow``);
4. the key's per-minute budget (429 ``rate_limited`` with ``Retry-After`` in seconds): a fixed
   one-minute window counted in DynamoDB, so every gateway replica shares it.

CORS: ``cors_headers(grant)`` goes on the real responses (and on the errors raised once the
origin is known to be allowed), and ``register_preflight(api, path, flow)`` adds the ``OPTIONS``
answer of a route. A preflight carries no key: it is answered for an origin that some active key
of that flow allows (any tenant's; the real request is checked against its own key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.responses import Response

from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.publishable import (
    FLOWS,
    PUBLISHABLE_KEY_PREFIX,
    PublishableKey,
    PublishableKeyStore,
    normalize_origin,
)

from .api import ApiContext, HTTPError

if TYPE_CHECKING:
    from .api import Api

PREFLIGHT_MAX_AGE = 600
ALLOWED_REQUEST_HEADERS = "authorization, content-type, x-publishable-key"
KEY_QUERY_PARAMS = ("key", "pk")


@dataclass(frozen=True)
class PublishableGrant:
    tenant_id: str
    key_id: str
    flow: str  # "product_marketing" | "chat_lead"
    channel: str | None  # chat_lead only
    origin: str | None  # the request's Origin when it was checked


def publishable_store(platform: Platform) -> PublishableKeyStore:
    """The store over the platform's clients (a few attributes: built per call)."""
    r = platform.resources
    return PublishableKeyStore(
        platform.aws,
        r.table("publishable_keys"),
        r.table("publishable_origins"),
        r.table("rate_limits"),
    )


def presented_key(request: HTTPConnection) -> str:
    """The publishable key a request carries ('' if none): header first, then the query."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        bearer = header[7:].strip()
        if bearer.startswith(PUBLISHABLE_KEY_PREFIX):
            return bearer
    explicit = request.headers.get("x-publishable-key", "").strip()
    if explicit:
        return explicit
    for name in KEY_QUERY_PARAMS:
        value = request.query_params.get(name, "").strip()
        if value:
            return value
    return ""


def request_origin(request: HTTPConnection) -> str | None:
    """The request's ``Origin`` as the browser sent it (None when absent or ``null``)."""
    value = request.headers.get("origin", "").strip()
    if not value or value == "null":
        return None
    return value.lower()


def cors_headers(grant: PublishableGrant | None) -> dict[str, str]:
    """The CORS headers of a real response to a checked request (none without an Origin)."""
    if grant is None or grant.origin is None:
        return {"vary": "Origin"}
    return {
        "access-control-allow-origin": grant.origin,
        "access-control-expose-headers": "Retry-After",
        "vary": "Origin",
    }


def _invalid(message: str = "the publishable key is not valid") -> HTTPError:
    return HTTPError(401, "invalid_publishable_key", message)


async def require_publishable(
    request: HTTPConnection,
    platform: Platform,
    flow: str,
    *,
    allow_origin_binding: bool = False,
) -> PublishableGrant:
    """The grant of a browser call of ``flow`` (see the module docstring), or an HTTPError.

    ``allow_origin_binding`` (the chat beacon only): with no key at all, the one active
    ``chat_lead`` key whose allowed origins name the request's Origin exactly stands in for it.
    """
    assert flow in FLOWS, flow
    store = publishable_store(platform)
    origin = request_origin(request)
    raw = presented_key(request)
    key: PublishableKey | None
    if raw:
        key = await store.lookup(raw)
    elif allow_origin_binding and origin is not None:
        key = await _bound_key(store, origin, flow)
    else:
        raise _invalid(
            "send a publishable key: 'Authorization: Bearer pk_…', 'X-Publishable-Key' "
            "or the 'key' query parameter"
        )
    if key is None or key.revoked_at is not None:
        raise _invalid()
    if not key.allows_origin(origin):
        raise HTTPError(
            403,
            "origin_not_allowed",
            f"this key does not allow the origin {origin!r}"
            if origin
            else "this key needs the request's Origin header",
        )
    grant = PublishableGrant(
        tenant_id=key.tenant_id,
        key_id=key.key_id,
        flow=key.flow,
        channel=key.channel,
        origin=origin,
    )
    headers = cors_headers(grant)
    if key.flow != flow:
        raise HTTPError(
            403, "wrong_flow", f"this key is for the {key.flow} flow, not {flow}", headers=headers
        )
    retry_after = await store.hit(key.key_id, key.rate_limit_per_minute)
    if retry_after is not None:
        raise HTTPError(
            429,
            "rate_limited",
            f"more than {key.rate_limit_per_minute} requests a minute with this key",
            headers={**headers, "retry-after": str(retry_after)},
        )
    return grant


async def _bound_key(store: PublishableKeyStore, origin: str, flow: str) -> PublishableKey | None:
    normalized = normalize_origin(origin)
    if normalized is None or normalized == "*":
        return None
    bound = [b for b in await store.bindings(normalized) if b.flow == flow]
    if len(bound) != 1:
        return None  # none, or ambiguous: the page must send its key
    return await store.by_hash(bound[0].key_hash)


async def preflight(
    request: HTTPConnection,
    platform: Platform,
    flow: str,
    methods: Sequence[str],
    allow_headers: str = ALLOWED_REQUEST_HEADERS,
) -> Response:
    """The answer to a CORS preflight of a ``flow`` route: the requesting origin is echoed
    when some active key of ``flow`` allows it; otherwise no CORS headers (the browser stops)."""
    origin = request_origin(request)
    headers = {"vary": "Origin"}
    if origin is not None and await publishable_store(platform).origin_allowed(origin, flow):
        headers.update(
            {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": ", ".join(methods),
                "access-control-allow-headers": allow_headers,
                "access-control-max-age": str(PREFLIGHT_MAX_AGE),
            }
        )
    return Response(status_code=204, headers=headers)


def register_preflight(
    api: Api,
    path: str,
    flow: str,
    methods: Sequence[str] = ("POST",),
    tags: tuple[str, ...] = ("publishable keys",),
    allow_headers: str = ALLOWED_REQUEST_HEADERS,
) -> None:
    """Declare ``OPTIONS path``: the CORS preflight of a route that takes a publishable key."""

    async def answer(ctx: ApiContext) -> Response:
        return await preflight(ctx.request, ctx.platform, flow, methods, allow_headers)

    answer.__doc__ = (
        "A CORS preflight carries no key: the requesting origin is echoed (with the allowed "
        "methods and headers) when an active publishable key of this flow allows it; the real "
        "request is then checked against its own key."
    )
    api.route(
        "OPTIONS",
        path,
        summary=f"CORS preflight of {path}",
        tags=tags,
        status=204,
        extra_responses={204: {"description": "Preflight answered (CORS headers when allowed)"}},
    )(answer)


__all__ = [
    "PublishableGrant",
    "cors_headers",
    "preflight",
    "presented_key",
    "publishable_store",
    "register_preflight",
    "require_publishable",
]
