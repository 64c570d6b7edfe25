"""Map the official SDKs' typed errors to our two kinds, once for every provider."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from ..errors import LeadmagnetError, PermanentError, TransientError

TRANSIENT_STATUSES = {408, 409, 429}


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / divisor
            except ValueError:
                continue
    return None


def map_sdk_error(provider: str, err: Exception) -> LeadmagnetError:
    """SDK exception -> TransientError (with Retry-After) or PermanentError."""
    timeouts = (openai.APITimeoutError, anthropic.APITimeoutError)
    connection = (openai.APIConnectionError, anthropic.APIConnectionError)
    status_errors = (openai.APIStatusError, anthropic.APIStatusError)
    if isinstance(err, timeouts):
        return TransientError(f"{provider} request timed out", code="provider_timeout")
    if isinstance(err, connection):
        return TransientError(f"{provider} connection failed", code="provider_unreachable")
    if isinstance(err, status_errors):
        status = err.status_code
        request_id = getattr(err, "request_id", None)
        detail = _message(err)
        text = f"{provider} answered {status}: {detail}" + (
            f" (request {request_id})" if request_id else ""
        )
        if status in TRANSIENT_STATUSES or status >= 500:
            code = "provider_rate_limited" if status == 429 else "provider_unavailable"
            return TransientError(text, code=code, retry_after=_retry_after(err.response.headers))
        return PermanentError(text, code="provider_rejected")
    return TransientError(f"{provider} call failed: {type(err).__name__}", code="provider_error")


def _message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:300]
    return str(getattr(err, "message", "") or type(err).__name__)[:300]
