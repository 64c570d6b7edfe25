"""Event contracts. Importing this package registers every event type."""

from . import jobs, leads, products, runs  # noqa: F401  (registering the event types)
from .envelope import (
    EVENT_PREFIX,
    CloudEvent,
    EventData,
    EventSpec,
    PoisonMessage,
    event_type,
    message_attributes,
    new_event,
    parse_event,
    registry,
    spec_for_type,
    spec_of,
)

__all__ = [
    "EVENT_PREFIX",
    "CloudEvent",
    "EventData",
    "EventSpec",
    "PoisonMessage",
    "event_type",
    "message_attributes",
    "new_event",
    "parse_event",
    "registry",
    "spec_for_type",
    "spec_of",
]
