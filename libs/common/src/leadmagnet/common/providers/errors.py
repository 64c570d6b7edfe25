"""Map the providers' typed errors to our two kinds, once for every provider.

The SDKs' error classes are looked up among the modules already imported: an SDK the process
never imported cannot have raised, and importing one to find out (anthropic takes a second or
two of CPU) would stall the event loop on the first failed call. botocore's exceptions come with
aiobotocore, which every service has.
"""

from __future__ import annotations

import sys
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ..errors import LeadmagnetError, PermanentError, TransientError

TRANSIENT_STATUSES = {408, 409, 429}

# Bedrock (and AWS JSON services) error codes. Throttling and capacity are worth waiting for;
# a bad request, missing model access or an unknown model id are not.
AWS_TRANSIENT_CODES = {
    "ThrottlingException": "provider_rate_limited",
    "TooManyRequestsException": "provider_rate_limited",
    "ServiceUnavailableException": "provider_unavailable",
    "InternalServerException": "provider_unavailable",
    "ModelNotReadyException": "provider_unavailable",
    "ModelTimeoutException": "provider_timeout",
    "RequestTimeout": "provider_timeout",
    "ModelErrorException": "provider_unavailable",  # 424: the model failed on this request
    "ServiceQuotaExceededException": "provider_rate_limited",
}
AWS_PERMANENT_CODES = {
    "ValidationException",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "UnrecognizedClientException",
}


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


SDKS = ("openai", "anthropic")


def _sdk_errors(name: str) -> tuple[type[Exception], ...]:
    """The error class ``name`` of each SDK this process has imported."""
    return tuple(getattr(sys.modules[sdk], name) for sdk in SDKS if sdk in sys.modules)


def map_sdk_error(provider: str, err: Exception) -> LeadmagnetError:
    """SDK exception -> TransientError (with Retry-After) or PermanentError."""
    timeouts = _sdk_errors("APITimeoutError")
    connection = _sdk_errors("APIConnectionError")
    status_errors = _sdk_errors("APIStatusError")
    if isinstance(err, timeouts):
        return TransientError(f"{provider} request timed out", code="provider_timeout")
    if isinstance(err, connection):
        return TransientError(f"{provider} connection failed", code="provider_unreachable")
    if isinstance(err, status_errors):
        failed: Any = err  # openai's or anthropic's APIStatusError: the same attributes
        status = int(failed.status_code)
        request_id = getattr(failed, "request_id", None)
        detail = _message(err)
        text = f"{provider} answered {status}: {detail}" + (
            f" (request {request_id})" if request_id else ""
        )
        if status in TRANSIENT_STATUSES or status >= 500:
            code = "provider_rate_limited" if status == 429 else "provider_unavailable"
            return TransientError(
                text, code=code, retry_after=_retry_after(failed.response.headers)
            )
        return PermanentError(text, code="provider_rejected")
    return TransientError(f"{provider} call failed: {type(err).__name__}", code="provider_error")


def map_botocore_error(provider: str, err: Exception) -> LeadmagnetError:
    """botocore exception (after botocore's own small retry budget) -> our two kinds.

    Throttling, unavailable/internal/not-ready, 408/429/5xx, timeouts and connection errors are
    transient (``Retry-After`` honoured when the answer has one); validation, access denied,
    unknown model and other 4xx are permanent; so are missing credentials or region (config).
    """
    if isinstance(err, ClientError):
        error = err.response.get("Error", {}) or {}
        meta = err.response.get("ResponseMetadata", {}) or {}
        code = str(error.get("Code") or "")
        status = int(meta.get("HTTPStatusCode") or 0)
        request_id = meta.get("RequestId")
        detail = str(error.get("Message") or code or "error")[:300]
        text = f"{provider} answered {status} {code}: {detail}" + (
            f" (request {request_id})" if request_id else ""
        )
        retry_after = _retry_after(meta.get("HTTPHeaders"))
        if code in AWS_TRANSIENT_CODES:
            return TransientError(text, code=AWS_TRANSIENT_CODES[code], retry_after=retry_after)
        if code in AWS_PERMANENT_CODES:
            return PermanentError(text, code="provider_rejected")
        if status in TRANSIENT_STATUSES or status >= 500:
            kind = "provider_rate_limited" if status == 429 else "provider_unavailable"
            return TransientError(text, code=kind, retry_after=retry_after)
        return PermanentError(text, code="provider_rejected")
    if isinstance(err, ConnectTimeoutError | ReadTimeoutError):
        return TransientError(f"{provider} request timed out", code="provider_timeout")
    if isinstance(err, EndpointConnectionError | BotoConnectionError):
        return TransientError(f"{provider} connection failed", code="provider_unreachable")
    if isinstance(err, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return PermanentError(f"{provider} is not configured: {err}", code="provider_config")
    if isinstance(err, ParamValidationError):
        return PermanentError(f"{provider} rejected the request: {err}"[:400], code="bad_request")
    if isinstance(err, BotoCoreError):
        return TransientError(
            f"{provider} call failed: {type(err).__name__}", code="provider_error"
        )
    return TransientError(f"{provider} call failed: {type(err).__name__}", code="provider_error")


def _message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:300]
    return str(getattr(err, "message", "") or type(err).__name__)[:300]
