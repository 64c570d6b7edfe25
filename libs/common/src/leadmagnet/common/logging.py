"""structlog JSON logging: one line per event, context bound per message, secrets never logged.

Context (service, job_id, tenant_id, event_id, event_type; runId and templateId for a funnel
run's messages) is bound with ``structlog.contextvars`` so concurrent handlers in one process
never mix their fields. Every line has ``message`` (= ``event``) for seed 001's log queries.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|signature|credential|cookie)", re.I
)
_SECRET_VALUES = re.compile(
    r"(whsec_[A-Za-z0-9+/=]{8,}|lm_(live|test)_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_-]{8,}"
    r"|sk-ant-[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,})"
)
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
_SAFE_KEYS = frozenset({"token_usage", "tokens", "input_tokens", "output_tokens", "max_tokens"})


def mask_email(value: str) -> str:
    """``ada@example.com`` -> ``a***@example.com``: enough to correlate, not to contact."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def redact(value: Any, key: str = "") -> Any:
    """Recursively mask secret-looking keys and values and e-mail addresses."""
    if key and key not in _SAFE_KEYS and _SECRET_KEYS.search(key):
        return "[redacted]" if value not in (None, "") else value
    if isinstance(value, str):
        return mask_email(_SECRET_VALUES.sub("[redacted]", value))
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for k in list(event_dict):
        event_dict[k] = redact(event_dict[k], k)
    return event_dict


def _message_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Seed 001's log lines have ``message`` (its CloudWatch queries read it): the same text
    as structlog's ``event``, which stays for our own tools."""
    if "event" in event_dict:
        event_dict.setdefault("message", event_dict["event"])
    return event_dict


def _trace_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``trace_id``/``span_id`` of the current span (``leadmagnet.common.tracing``): a log line
    leads to its trace and back. Also when this process exports no traces: the ids then are the
    ones the envelope brought."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", f"{ctx.trace_id:032x}")
        event_dict.setdefault("span_id", f"{ctx.span_id:016x}")
    return event_dict


_configured = False


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time of writing, not at configuration: a
    stream swapped in and closed later (pytest's capture, an embedding host) must not take the
    process's logging down with it."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Configure structlog (and stdlib logging underneath) once per process."""
    global _configured
    log_level = logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks whether or not rich is installed (structlog loads without it:
        # leadmagnet.common's __init__).
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _trace_processor,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _message_processor,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    if not _configured:
        # Libraries (botocore, uvicorn, httpx) log through stdlib: keep them quiet and on stderr.
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
        for noisy in ("botocore", "aiobotocore", "urllib3", "httpx", "httpx2", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def get_logger(**initial: Any) -> Any:
    return structlog.get_logger(**initial)
