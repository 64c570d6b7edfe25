"""The published contracts and the topology agree with the code."""

import json
from pathlib import Path

import jsonschema
import pytest

from leadmagnet.common.events import new_event
from leadmagnet.common.events.catalog import project_events, render_all
from leadmagnet.common.events.jobs import JobCompleted
from leadmagnet.common.models import utcnow
from leadmagnet.common.topology import load_topology

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_committed_event_docs_match_the_code() -> None:
    expected = render_all()
    stale = [
        name
        for name, text in expected.items()
        if not (DOCS / name).exists() or (DOCS / name).read_text() != text
    ]
    assert not stale, f"docs/events is stale for {stale}: run `make events`"


def test_published_schema_accepts_a_real_event() -> None:
    schema = json.loads((DOCS / "job.completed.v1.json").read_text())
    event = new_event(
        JobCompleted(job_id="job_1", tenant_id="t", kind="lead_magnet", completed_at=utcnow()),
        source="/leadmagnet/renderer",
        subject="job_1",
        tenant_id="t",
    )
    jsonschema.validate(json.loads(event.model_dump_json()), schema)
    broken = json.loads(event.model_dump_json())
    broken["type"] = "io.leadmagnet.job.failed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_every_subscribed_type_is_a_registered_event() -> None:
    known = {s.type for s in project_events()}
    for name, queue in load_topology().queues.items():
        unknown = queue.event_types - known
        assert not unknown, f"queue {name} filters on unregistered types {unknown}"


def test_queues_outlive_their_handlers_and_dlqs_outlive_queues() -> None:
    for name, q in load_topology().queues.items():
        assert q.dlq_retention_seconds > q.message_retention_seconds, name
        assert q.receive_wait_time_seconds == 20, name
        assert q.max_receive_count >= 3, name


@pytest.mark.parametrize("service", ["reporter", "renderer", "imager", "notifier"])
def test_each_worker_handles_exactly_what_its_queue_receives(service: str) -> None:
    import importlib
    from typing import Any

    handlers = importlib.import_module(f"leadmagnet.{service}.handlers")
    placeholder: Any = object()  # routes() only builds closures; nothing touches the platform
    routes, default_hook = handlers.build(placeholder)
    _, queue = load_topology().queue_for(service)
    assert set(routes) == queue.event_types
    assert default_hook is not None


def test_the_declared_stages_are_the_contract() -> None:
    """Producers in docs/events come from the stage declarations: each worker declares exactly
    what its queue receives, and every event has a declared producer."""
    from leadmagnet.common.stages import load_plans, producers_of

    topology = load_topology()
    plans = {plan.name: plan for plan in load_plans(topology)}
    assert set(plans) == set(topology.services)
    for name, queue in topology.queues.items():
        assert plans[queue.consumer].consumes() == queue.event_types, name
    producers = producers_of(plans.values())
    unproduced = [s.type for s in project_events() if not producers.get(s.type)]
    assert not unproduced, f"no service declares that it emits {unproduced}"
    assert plans["gateway"].consumes() == set()
