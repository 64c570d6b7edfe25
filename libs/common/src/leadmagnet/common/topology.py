"""The topology: queues, DLQs, topics, subscriptions, tables and buckets, declared once.

``topology.json`` (next to this module) is the single declaration. The local bootstrap below
creates it against any endpoint; Terraform reads the same file with ``jsondecode(file(...))``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .logging import get_logger

log = get_logger()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyAttr(_Strict):
    name: str
    type: Literal["S", "N", "B"]


class Index(_Strict):
    name: str
    hash_key: KeyAttr
    range_key: KeyAttr | None = None
    projection_type: Literal["ALL", "KEYS_ONLY"] = "ALL"


class Table(_Strict):
    description: str = ""
    hash_key: KeyAttr
    range_key: KeyAttr | None = None
    attributes: list[KeyAttr]
    ttl_attribute: str | None = None
    global_secondary_indexes: list[Index] = Field(default_factory=list)


class Subscription(_Strict):
    topic: str
    filter_policy: dict[str, list[Any]]


class Queue(_Strict):
    description: str = ""
    consumer: str
    visibility_timeout_seconds: int = Field(ge=0, le=43_200)
    message_retention_seconds: int = Field(ge=60, le=1_209_600)
    receive_wait_time_seconds: int = Field(20, ge=0, le=20)
    max_receive_count: int = Field(ge=1, le=1000)
    dlq_retention_seconds: int = Field(ge=60, le=1_209_600)
    backoff_base_seconds: float = Field(gt=0)
    backoff_cap_seconds: float = Field(gt=0, le=43_200)
    subscriptions: list[Subscription]

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(t for s in self.subscriptions for t in s.filter_policy.get("type", []))


class Topic(_Strict):
    description: str = ""


class LifecycleRule(_Strict):
    id: str
    prefix: str
    expiration_days: int = Field(ge=1)


class Bucket(_Strict):
    description: str = ""
    versioning: bool = False
    lifecycle: list[LifecycleRule] = Field(default_factory=list)


class ServiceAccess(_Strict):
    """What one service may touch: Terraform turns this into its least-privilege task role."""

    description: str = ""
    command: list[str]
    port: int | None = None
    tables: list[str]
    buckets: dict[str, Literal["read", "read_write"]]
    publishes: list[str]
    sends_email: bool = False
    reads_secrets: bool = Field(
        False, description="Secrets Manager secrets under '<resource_prefix>/' (gate call tokens)."
    )
    peeks_dead_letters: bool = Field(
        False,
        description="Read (never delete) every queue's DLQ: depths and the oldest messages, for "
        "the admin console.",
    )


class Topology(_Strict):
    version: int
    naming: str = ""
    topics: dict[str, Topic]
    queues: dict[str, Queue]
    tables: dict[str, Table]
    buckets: dict[str, Bucket]
    services: dict[str, ServiceAccess]

    @model_validator(mode="after")
    def _references_exist(self) -> Topology:
        for name, svc in self.services.items():
            for kind, names, known in (
                ("table", svc.tables, self.tables),
                ("bucket", list(svc.buckets), self.buckets),
                ("topic", svc.publishes, self.topics),
            ):
                missing = sorted(set(names) - set(known))
                if missing:
                    raise ValueError(f"service {name!r} names unknown {kind}(s): {missing}")
        for qname, q in self.queues.items():
            if q.consumer not in self.services:
                raise ValueError(f"queue {qname!r} is consumed by unknown service {q.consumer!r}")
            for sub in q.subscriptions:
                if sub.topic not in self.topics:
                    raise ValueError(f"queue {qname!r} subscribes to unknown topic {sub.topic!r}")
        return self

    def queue_consuming(self, event_type: str) -> str:
        """The one queue subscribed to ``event_type`` (for a message sent straight to it, e.g. a
        delayed one: SNS cannot delay)."""
        names = [name for name, q in self.queues.items() if event_type in q.event_types]
        if len(names) != 1:
            raise KeyError(f"{len(names)} queues consume {event_type}; expected exactly one")
        return names[0]

    def queue_for(self, consumer: str) -> tuple[str, Queue]:
        for name, q in self.queues.items():
            if q.consumer == consumer:
                return name, q
        raise KeyError(f"no queue is consumed by {consumer!r}")


def topology_text() -> str:
    return resources.files(__package__).joinpath("topology.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_topology() -> Topology:
    return Topology.model_validate(json.loads(topology_text()))
