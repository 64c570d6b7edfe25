"""The two kinds of failure every stage distinguishes.

The consumer runtime decides what happens to a message from the exception class alone:
``PermanentError`` fails the job at once (retrying cannot help), ``TransientError`` (and any
unexpected exception) is retried with backoff until the queue's ``max_receive_count``.
"""

from __future__ import annotations


class LeadmagnetError(Exception):
    """Base class: carries a message safe to show to the job's owner."""

    def __init__(self, message: str, *, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PermanentError(LeadmagnetError):
    """Retrying will not help (bad input, unknown template, provider 4xx...)."""


class TransientError(LeadmagnetError):
    """Retrying later may help (throttling, 5xx, timeouts). ``retry_after`` is a hint in seconds."""

    def __init__(
        self, message: str, *, code: str = "transient", retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class NotFoundError(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="not_found")


class ConflictError(LeadmagnetError):
    """A conditional write lost a race or hit a state that forbids it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict")


class InvalidOutputError(TransientError):
    """A model's answer did not parse or validate; another attempt may well succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_output")


class Deferred(TransientError):
    """The work waits for a shared capacity (e.g. its tenant's model slots): nothing failed.

    The consumer puts the message back as a new one after ``retry_after``, so waiting does not
    spend the message's receive budget toward the DLQ (it has its own, much larger, budget)."""
