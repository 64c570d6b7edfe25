import json

import pytest

from leadmagnet.common.events import (
    PoisonMessage,
    message_attributes,
    new_event,
    parse_event,
    registry,
    spec_of,
)
from leadmagnet.common.events.jobs import JobFailed, JobRequested


def test_round_trip_is_a_cloudevents_1_0_structured_envelope() -> None:
    event = new_event(
        JobRequested(job_id="job_1", tenant_id="ten_1", workflow_id="wf_1"),
        source="/leadmagnet/gateway",
        subject="job_1",
        tenant_id="ten_1",
        correlation_id="req-9",
    )
    raw = json.loads(event.model_dump_json())
    for required in ("specversion", "id", "source", "type", "time", "datacontenttype", "data"):
        assert raw[required], required
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "io.leadmagnet.job.requested"
    assert raw["dataschema"].endswith("/job.requested/v1.json")
    parsed = parse_event(event.model_dump_json())
    assert isinstance(parsed.data, JobRequested)
    assert parsed.data.workflow_id == "wf_1"
    assert parsed.id == event.id
    assert parsed.tenantid == "ten_1"


def test_message_attributes_mirror_type_tenant_subject_for_filter_policies() -> None:
    event = new_event(
        JobRequested(job_id="job_1", tenant_id="ten_1"),
        source="/x",
        subject="job_1",
        tenant_id="ten_1",
    )
    attrs = message_attributes(event)
    assert attrs["type"] == {"DataType": "String", "StringValue": "io.leadmagnet.job.requested"}
    assert attrs["tenant_id"]["StringValue"] == "ten_1"
    assert attrs["subject"]["StringValue"] == "job_1"
    assert "correlation_id" not in attrs


def test_stable_event_id_is_kept() -> None:
    event = new_event(JobRequested(job_id="j", tenant_id="t"), source="/x", event_id="evt_fixed")
    assert event.id == "evt_fixed"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1,2]", "not a JSON object"),
        (json.dumps({"type": "io.leadmagnet.nope", "subject": "job_x"}), "unknown event type"),
    ],
)
def test_unparseable_bodies_are_poison(body: str, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        parse_event(body)


def test_schema_invalid_data_is_poison_but_keeps_subject_and_tenant() -> None:
    good = new_event(
        JobRequested(job_id="job_1", tenant_id="ten_1"),
        source="/x",
        subject="job_1",
        tenant_id="ten_1",
    )
    raw = json.loads(good.model_dump_json())
    del raw["data"]["job_id"]
    with pytest.raises(PoisonMessage) as info:
        parse_event(json.dumps(raw))
    assert "data.job_id" in info.value.reason
    assert info.value.subject == "job_1"
    assert info.value.tenant_id == "ten_1"


def test_unknown_data_fields_are_ignored_for_forward_compatibility() -> None:
    event = new_event(JobRequested(job_id="j", tenant_id="t"), source="/x")
    raw = json.loads(event.model_dump_json())
    raw["data"]["added_in_a_later_minor_version"] = True
    assert parse_event(json.dumps(raw)).data.job_id == "j"


def test_public_events_are_registered_once_with_versions() -> None:
    reg = registry()
    assert reg["io.leadmagnet.job.completed"].public
    assert reg["io.leadmagnet.job.failed"].public
    assert not reg["io.leadmagnet.job.requested"].public
    assert spec_of(JobFailed).version == 1
