"""The seed adapters' pure parts (issue 19): status words, the flat webhook body, a run's log
context and ``message`` key, ISO timestamps and tenant-prefixed keys of job files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from leadmagnet.common.consumer import run_log_context
from leadmagnet.common.events import CloudEvent
from leadmagnet.common.events.jobs import ArtifactRef, JobCompleted, JobFailed
from leadmagnet.common.events.runs import RunRequested
from leadmagnet.common.logging import _message_processor
from leadmagnet.common.models import CallbackGate, Job, JobStatus, Workflow
from leadmagnet.flows.jobfiles import _dumps, file_keys, visible_files
from leadmagnet.notifier.flows.webhooks import webhook_body

AT = datetime(2026, 11, 29, 9, 55, 59, 361407, tzinfo=UTC)


def event(data: Any, type_: str) -> CloudEvent[Any]:
    return CloudEvent[Any](
        id="evt_1",
        source="test",
        type=f"io.leadmagnet.{type_}",
        subject=data.job_id,
        tenantid=data.tenant_id,
        time=AT,
        data=data,
    )


def test_status_words_are_case_insensitive_and_extend_the_defaults() -> None:
    gate = CallbackGate(external_id_field="story", status_map={"Rejected": "failure"})
    outcomes = gate.outcomes()
    assert outcomes["rejected"] == "failure"
    assert outcomes["done"] == "success"  # seed 004's word
    assert outcomes["success"] == "success"
    assert outcomes["failure"] == "failure"
    assert "in review" not in outcomes


@pytest.mark.parametrize(
    "status_map",
    [
        {"Done": "maybe"},
        {"done": "success", "DONE": "failure"},
        {f"w{i}": "success" for i in range(21)},
        {"": "success"},
        {"x" * 41: "success"},
    ],
)
def test_bad_status_maps_are_refused(status_map: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CallbackGate(external_id_field="story", status_map=status_map)


def test_webhook_events_are_validated() -> None:
    base: dict[str, Any] = {"workflow_id": "wf", "tenant_id": "t", "name": "n"}
    assert Workflow(**base).webhook_events == ["job.completed", "job.failed", "job.cancelled"]
    for bad in ([], ["job.started"], ["job.failed", "job.failed"]):
        with pytest.raises(ValidationError):
            Workflow(**base, webhook_events=bad)


def test_flat_body_has_the_seed_fields_and_no_links_for_a_failure() -> None:
    done = JobCompleted(
        job_id="job_1",
        tenant_id="t",
        kind="lead_magnet",
        output_url="https://cdn.example/final.html",
        artifacts=[
            ArtifactRef(
                artifact_id="art_a", kind="final_html", content_type="text/html", size_bytes=1
            ),
            ArtifactRef(
                artifact_id="art_b",
                kind="report_markdown",
                content_type="text/markdown",
                size_bytes=1,
            ),
        ],
        completed_at=AT,
    )
    body = json.loads(webhook_body(event(done, "job.completed"), "seed"))
    assert body == {
        "job_id": "job_1",
        "status": "completed",
        "output_url": "https://cdn.example/final.html",
        "artifacts": ["art_a", "art_b"],
    }
    failed = JobFailed(
        job_id="job_2",
        tenant_id="t",
        kind="lead_magnet",
        error_code="x",
        error_message="boom",
        failed_at=AT,
    )
    body = json.loads(webhook_body(event(failed, "job.failed"), "seed"))
    assert body == {
        "job_id": "job_2",
        "status": "failed",
        "output_url": None,
        "artifacts": [],
        "error_message": "boom",
    }
    envelope = json.loads(webhook_body(event(done, "job.completed")))
    assert envelope["type"] == "job.completed"
    assert envelope["data"]["job_id"] == "job_1"


def test_run_log_context_names_the_run_and_template() -> None:
    run = RunRequested(job_id="run_1", tenant_id="t", template_id="tpl_1", template_version=1)
    assert run_log_context(event(run, "run.requested")) == {"runId": "run_1", "templateId": "tpl_1"}
    done = JobCompleted(job_id="run_1", tenant_id="t", kind="funnel_rewrite", completed_at=AT)
    assert run_log_context(event(done, "job.completed")) == {"runId": "run_1"}
    other = JobCompleted(job_id="job_1", tenant_id="t", kind="lead_magnet", completed_at=AT)
    assert run_log_context(event(other, "job.completed")) == {}


def test_every_log_line_has_a_message() -> None:
    out = _message_processor(None, "info", {"event": "handler.succeeded", "runId": "run_1"})
    assert out["message"] == "handler.succeeded"
    assert out["event"] == "handler.succeeded"


def test_job_files_are_under_the_tenant_with_iso_timestamps() -> None:
    job = Job(job_id="job_1", tenant_id="ten_1", status=JobStatus.COMPLETED, completed_at=AT)
    keys = file_keys(job)
    assert keys == {
        "result": "ten_1/outputs/job_1/result.json",
        "log": "ten_1/logs/job_1/execution.log",
    }
    legacy = job.model_copy(
        update={"files": {"result": "outputs/job_1/result.json", "log": "logs/job_1/execution.log"}}
    )
    assert visible_files(legacy) == legacy.files  # recorded before the prefix: still linked
    assert visible_files(job.model_copy(update={"files": keys})) == keys
    assert visible_files(job.model_copy(update={"files": {"result": "elsewhere"}})) == {}
    dumped = json.loads(_dumps({"completed_at": AT, "at": AT.isoformat()}))
    assert dumped["completed_at"] == "2026-11-29T09:55:59.361407+00:00"
