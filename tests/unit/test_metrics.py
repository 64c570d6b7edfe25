"""Metrics lines are CloudWatch EMF: checked against the spec's rules and limits, as the stage
runtime, the job lifecycle and model calls write them to stdout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from leadmagnet.common import jobflow, metrics
from leadmagnet.common.consumer import MessageContext
from leadmagnet.common.errors import ConflictError, PermanentError
from leadmagnet.common.events import CloudEvent, new_event
from leadmagnet.common.events.jobs import JobRequested, ReportGenerated
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.jobflow import complete_job, fail_job, generate_text
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.base import CallCost, TextRequest, TextResult, Usage
from leadmagnet.common.settings import Settings, get_settings
from leadmagnet.common.stages import JobStage, run_job_stage
from leadmagnet.testing.emf import emf_documents, metric_names, parse_emf


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("METRICS_ENABLED", raising=False)
    monkeypatch.setenv("METRICS_NAMESPACE", "lm-test")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_record_is_emf_and_refuses_what_cloudwatch_would_reject() -> None:
    doc = metrics.emf_record(
        {"JobsStarted": (1, "Count")},
        {"Kind": "lead_magnet", "TenantId": "ten_a"},
        metrics.JOB_DIMENSION_SETS,
        namespace="ns",
        timestamp_ms=1_780_000_000_000,
    )
    parsed = parse_emf(json.dumps(doc))
    assert parsed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [],
        ["Kind"],
        ["Kind", "TenantId"],
    ]
    with pytest.raises(ValueError, match="without values"):
        metrics.emf_record({"X": (1, "Count")}, {}, [["Kind"]], namespace="ns")
    dims = {f"D{i}": "v" for i in range(31)}
    with pytest.raises(ValueError, match="at most 30"):
        metrics.emf_record({"X": (1, "Count")}, dims, [list(dims)], namespace="ns")
    with pytest.raises(ValueError, match="1 to 100"):
        metrics.emf_record({f"M{i}": (1, "Count") for i in range(101)}, {}, [], namespace="ns")


def test_lines_are_raw_json_in_the_settings_namespace_and_can_be_switched_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics.stage_ran(service="reporter", stage="report", job_id="job_1", started=0.0, failed=False)
    (line,) = capsys.readouterr().out.splitlines()
    doc = parse_emf(line)  # the whole line: no log envelope around it
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "lm-test"
    monkeypatch.setenv("METRICS_ENABLED", "false")
    get_settings.cache_clear()
    metrics.stage_ran(service="reporter", stage="report", job_id="job_1", started=0.0, failed=False)
    assert capsys.readouterr().out == ""


# --- the stage runtime -------------------------------------------------------------------------


class FakeBus:
    def __init__(self) -> None:
        self.published: list[CloudEvent[Any]] = []

    def event(self, data: Any, **kw: Any) -> CloudEvent[Any]:
        return new_event(data, source="/leadmagnet/test", **kw)

    async def publish(self, event: CloudEvent[Any]) -> None:
        self.published.append(event)

    async def publish_many(self, events: list[CloudEvent[Any]]) -> None:
        self.published += events


@pytest.fixture
async def reporter(bootstrapped: Settings) -> AsyncIterator[Platform]:
    """The reporter's platform on the session's moto endpoint, its bus only recording."""
    async with Platform.open(bootstrapped, "reporter") as p:
        p.bus = FakeBus()  # type: ignore[assignment]
        yield p


def delivery(job_id: str) -> tuple[MessageContext, CloudEvent[Any]]:
    data = JobRequested(
        job_id=job_id, tenant_id="ten_a", kind="lead_magnet", workflow_id="wf", submission_id="s"
    )
    ctx = MessageContext({"MessageId": "m1", "ReceiptHandle": "r1"}, visibility_timeout=60)
    return ctx, new_event(data, source="/test", subject=job_id, tenant_id="ten_a")


def stage(work: Any) -> JobStage[JobRequested]:
    return JobStage(
        name="report",
        consumes=(JobRequested,),
        kinds=frozenset({"lead_magnet"}),
        work=work,
        emits=(ReportGenerated,),
    )


async def test_a_stage_run_writes_its_latency_and_a_failure_re_raised(
    capsys: pytest.CaptureFixture[str], reporter: Platform
) -> None:
    async def fine(call: Any) -> dict[str, Any]:
        return {}

    async def broken(call: Any) -> dict[str, Any]:
        raise PermanentError("no template", code="template_missing")

    ok_job, bad_job = new_job_id(), new_job_id()
    for job_id in (ok_job, bad_job):
        await reporter.jobs.create(Job(job_id=job_id, tenant_id="ten_a"))
    capsys.readouterr()
    await run_job_stage(reporter, stage(fine), *delivery(ok_job))
    with pytest.raises(PermanentError) as failed:  # the consumer still sees the error
        await run_job_stage(reporter, stage(broken), *delivery(bad_job))
    assert failed.value.code == "template_missing"
    await run_job_stage(reporter, stage(fine), *delivery("job_unknown"))  # guard: no work

    ok, bad = emf_documents(capsys.readouterr().out)
    for doc, job_id in ((ok, ok_job), (bad, bad_job)):
        assert doc["Service"] == "reporter"
        assert doc["Stage"] == "report"
        assert doc["job_id"] == job_id  # a property, not a dimension: no metric per job
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "Stage"]]
        assert doc["StageLatency"] >= 0
    assert (ok["StageFailed"], bad["StageFailed"]) == (0, 1)


# --- the job lifecycle -------------------------------------------------------------------------


class LifecycleJobs:
    """A store where a job's final transition happens once; later ones are refused."""

    def __init__(self, job: Job) -> None:
        self.job = job

    async def transition(self, job_id: str, *_: Any, status: JobStatus, **__: Any) -> Job:
        if self.job.status.terminal:
            raise ConflictError("already final")
        self.job = self.job.model_copy(update={"status": status})
        return self.job

    async def require(self, job_id: str) -> Job:
        return self.job

    async def get(self, job_id: str) -> Job | None:
        return self.job

    async def fail(self, job_id: str, **_: Any) -> Job | None:
        try:
            return await self.transition(job_id, status=JobStatus.FAILED)
        except ConflictError:
            return None


class FakeArtifacts:
    async def list_for_job(self, job_id: str, registered: Any = ()) -> list[Any]:
        return []

    async def url(self, key: str) -> str:
        return f"https://cdn.test/{key}"

    async def withdraw_for_job(self, job_id: str, registered: Any = ()) -> int:
        return 0


class LifecyclePlatform:
    service = "renderer"

    def __init__(self, job: Job) -> None:
        self.jobs = LifecycleJobs(job)
        self.artifacts = FakeArtifacts()
        self.bus = FakeBus()


async def test_jobs_are_counted_once_per_kind_and_tenant_never_on_a_replay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done: Any = LifecyclePlatform(Job(job_id="job_1", tenant_id="ten_a", kind="lead_magnet"))
    lost: Any = LifecyclePlatform(Job(job_id="job_2", tenant_id="ten_b", kind="funnel_rewrite"))
    capsys.readouterr()
    for _ in range(2):  # the second call is a redelivery: same events, no second count
        await complete_job(done, "job_1", output_key="final.html")
        await fail_job(lost, "job_2", code="boom", message="it broke")
    assert await fail_job(done, "job_1", code="late", message="too late") is None

    completed, failed = emf_documents(capsys.readouterr().out)
    assert metric_names(completed) == {"JobsCompleted"}
    assert (completed["Kind"], completed["TenantId"], completed["JobsCompleted"]) == (
        "lead_magnet",
        "ten_a",
        1,
    )
    assert metric_names(failed) == {"JobsFailed"}
    assert (failed["Kind"], failed["TenantId"]) == ("funnel_rewrite", "ten_b")
    assert failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [],
        ["Kind"],
        ["Kind", "TenantId"],
    ]
    # replays re-publish their event, but count nothing
    assert len(done.bus.published) == 2
    assert len(lost.bus.published) == 2


# --- model calls -------------------------------------------------------------------------------


def call_cost(**usage: int) -> CallCost:
    return CallCost(
        provider="openai",
        model="gpt-test",
        operation="text",
        usage=Usage(**usage),
        cost_micros=1234,
        price_version="test",
    )


class FakeProvider:
    name = "openai"

    def __init__(self, *, billed_failure: bool = False) -> None:
        self.billed_failure = billed_failure

    async def generate_text(self, request: TextRequest) -> TextResult:
        if self.billed_failure:
            error = PermanentError("invalid answer", code="invalid_output")
            error.cost = call_cost(input_tokens=7, output_tokens=3)  # type: ignore[attr-defined]
            raise error
        return TextResult(
            text="hi",
            cost=call_cost(input_tokens=100, cached_input_tokens=20, output_tokens=50),
        )


class CostJobs:
    def __init__(self) -> None:
        self.charged: list[CallCost] = []

    async def add_cost(self, job_id: str, cost: CallCost) -> None:
        self.charged.append(cost)


class ModelPlatform:
    service = "reporter"

    def __init__(self) -> None:
        self.jobs = CostJobs()


JOB = Job(job_id="job_1", tenant_id="ten_1")


async def test_model_calls_write_tokens_and_cost_per_provider_and_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_slot(platform: Any, tenant_id: str, provider: Any, call: Any) -> Any:
        return await call()  # tenants' model slots are another test's subject

    monkeypatch.setattr(jobflow, "within_model_slot", no_slot)
    platform: Any = ModelPlatform()
    request = TextRequest(system="s", prompt="p")
    capsys.readouterr()
    await generate_text(platform, JOB, request, provider=FakeProvider())  # type: ignore[arg-type]
    with pytest.raises(PermanentError):  # a billed failure is counted too
        await generate_text(
            platform,
            JOB,
            request,
            provider=FakeProvider(billed_failure=True),  # type: ignore[arg-type]
        )
    ok, failed = emf_documents(capsys.readouterr().out)
    assert ok["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Provider", "Model"]]
    assert (ok["Provider"], ok["Model"]) == ("openai", "gpt-test")
    assert (ok["InputTokens"], ok["OutputTokens"], ok["CostMicros"]) == (120, 50, 1234)
    assert (failed["InputTokens"], failed["OutputTokens"]) == (7, 3)
    assert ok["job_id"] == failed["job_id"] == "job_1"
    assert len(platform.jobs.charged) == 2
