"""Declared stages: what a stage consumes, emits and may fail with; the runtime does the rest.

A job stage (``JobStage``) is a declaration plus up to two functions:

- ``work(call)``: the once-per-job side effects (model calls, files). The runtime runs it under
  the stage's idempotency record (``<name>#<job_id>``: claimed, its lease extended with the
  message's, completed with the small JSON result ``work`` returns). A redelivery after it
  completed gets the stored result back without running it again; it never runs for a finished
  job.
- ``then(call, result)``: cheap, idempotent follow-ups that run on every delivery, replays
  included. It returns the stage's outputs: event payloads, which the runtime publishes with a
  stable id derived from the job and the event type (a re-publish after a crash is the same
  event), and ``Complete``, which completes the job once (``job.completed``).

Before either runs, the runtime loads and guards the job: known, the event's tenant, a kind and a
status the stage accepts (late or duplicate deliveries for finished jobs are acknowledged without
work). ``call.put_artifact`` stores a file and registers it on its job, ``call.generate_text``
charges a model call to the job, and a failure that can no longer succeed goes to the declared
failure hook (by default: the job fails, which withdraws whatever it delivered).

An ``EventStage`` is the same declaration for events that are not about one job (a chat thread's
hand-off): the runtime publishes its outputs with ids derived from ``identity(data)``.

Service compositions (``ServicePlan``) list their stages; routes, the event catalogue's producers
and the check against the topology's subscriptions all come from these declarations.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import metrics, tracing
from .consumer import FailureHook, MessageContext, Route, Routes
from .errors import ConflictError, PermanentError
from .events import CloudEvent, EventData, spec_of
from .events.jobs import JobCompleted, JobFailed
from .idempotency import AlreadyInProgress, now_ms
from .ids import stable_id
from .jobflow import (
    complete_job,
    count_job,
    generate_text,
    job_failure_hook,
    publish_completed,
    store_artifact,
    withdraw_deliverables,
)
from .logging import get_logger
from .models import Artifact, Job, JobStatus, LogLevel, LogType, TimelineEvent
from .platform import Platform
from .providers.base import CallCost, Provider, TextRequest, TextResult
from .stores.artifacts import JobFile
from .stores.jobs import JobChange, Refused, claim_run, extend_run, finish_run, release_run
from .stores.jobs import timeline_entry as _timeline_entry
from .topology import Topology

log = get_logger()

E = TypeVar("E", bound=EventData)

ACTIVE = frozenset(s for s in JobStatus if not s.terminal)


@dataclass(frozen=True)
class Complete:
    """Output of a stage: complete the job (once) and publish ``job.completed``."""

    output_key: str | None
    message: str = "job completed"
    data: dict[str, Any] | None = None


Output = EventData | Complete
FailureHookFactory = Callable[[Platform, str], FailureHook]


@dataclass(frozen=True)
class Start:
    """A stage's start transition, made by the claim itself: a timeline entry, and the status
    the job takes (None: it keeps its status)."""

    event: TimelineEvent
    message: str
    status: JobStatus | None = None
    data: dict[str, Any] | None = None  # the entry's data (the delivery's attempt is added)


@dataclass(frozen=True)
class Note:
    """A timeline entry a stage's work writes with its result."""

    event: TimelineEvent
    message: str
    data: dict[str, Any]
    level: LogLevel = "info"
    log_type: LogType = "event"


@dataclass
class Charges:
    """What a stage's work charged to its job, written with the run's result (one write)."""

    costs: list[CallCost] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def change(self, stage: str) -> JobChange:
        change = JobChange()
        change.charge(costs=self.costs, artifacts=self.artifacts)
        for note in self.notes:
            change.entries.append(
                _timeline_entry(
                    note.event,
                    note.message,
                    stage=stage,
                    data=note.data,
                    level=note.level,
                    log_type=note.log_type,
                )
            )
        return change


@dataclass
class StageCall(Generic[E]):
    """One delivery of a stage's input for one job: what ``work`` and ``then`` get."""

    platform: Platform
    ctx: MessageContext
    event: CloudEvent[Any]
    data: E
    job: Job
    stage: JobStage[E]
    charges: Charges | None = None  # set while the work runs: charged with its result
    # What the work hands its follow-ups in this delivery only (never stored: a replay's
    # follow-ups get an empty one), e.g. a small output to carry on the next event.
    handoff: dict[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        return self.ctx.receive_count

    async def put_artifact(self, file: JobFile) -> Artifact:
        """Store a file of this job and register it on the job (views list what is registered;
        during the work, the registration is written with the run's result)."""
        register = self.charges.artifacts.append if self.charges is not None else None
        return await store_artifact(self.platform, self.job, file, register=register)

    async def generate_text(
        self, request: TextRequest, *, provider: Provider | None = None
    ) -> TextResult:
        """A text/vision call charged to the job (billed failures included)."""
        return await generate_text(
            self.platform,
            self.job,
            request,
            provider=provider,
            charge=self.charges.costs.append if self.charges is not None else None,
        )

    async def note(
        self,
        event_type: TimelineEvent,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        level: LogLevel = "info",
        log_type: LogType = "event",
    ) -> None:
        """A timeline entry of this stage (during the work: written with the run's result)."""
        if self.charges is not None:
            self.charges.notes.append(Note(event_type, message, data or {}, level, log_type))
        else:
            await self.platform.jobs.record(
                self.job.job_id,
                event_type,
                message,
                stage=self.stage.name,
                data=data,
                level=level,
                log_type=log_type,
            )

    async def charge(self, cost: CallCost) -> None:
        """A model call's cost charged to the job (during the work: written with its result)."""
        if self.charges is not None:
            self.charges.costs.append(cost)
        else:
            await self.platform.jobs.add_cost(self.job.job_id, cost)

    async def once(
        self, scope: str, work: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """A further once-per-job step of this delivery (e.g. arming an approval gate)."""
        result, _ = await self.platform.idempotency.run_once(
            f"{scope}#{self.job.job_id}", self.ctx, work
        )
        return result


Work = Callable[[StageCall[E]], Awaitable[dict[str, Any]]]
Then = Callable[[StageCall[E], dict[str, Any]], Awaitable[Sequence[Output]]]


@dataclass(frozen=True)
class JobStage(Generic[E]):
    """A stage of a job's pipeline, declared."""

    name: str  # idempotency scope and the job's ``stage`` while it runs
    consumes: tuple[type[E], ...]
    kinds: frozenset[str]  # job kinds it accepts; another kind is a permanent error
    work: Work[E] | None = None
    then: Then[E] | None = None
    emits: tuple[type[EventData], ...] = ()
    fails_with: tuple[str, ...] = ()  # the error codes it raises itself (documentation)
    statuses: frozenset[JobStatus] = ACTIVE  # job states it acts on; others are acknowledged
    on_failure: FailureHookFactory = job_failure_hook
    scope: str = ""  # the run record's name, when it differs from ``name``
    starts: Start | None = None  # the claim's transition (else the job's stage is just set)

    def produces(self) -> set[str]:
        return {spec_of(m).type for m in self.emits}

    def routes(self, platform: Platform) -> Routes:
        hook = self.on_failure(platform, self.name)

        async def handle(ctx: MessageContext, event: CloudEvent[Any]) -> None:
            await run_job_stage(platform, self, ctx, event)

        return {spec_of(m).type: Route(handle, hook) for m in self.consumes}


async def guarded_job(platform: Platform, stage: JobStage[Any], data: Any) -> Job | None:
    """The job the event is about, if the stage may act on it; None (logged) otherwise."""
    _check_kind(stage, data)
    job = await platform.jobs.get(data.job_id)
    if job is None:
        log.warning("job.unknown", job_id=data.job_id, stage=stage.name)
        return None
    if not _guard(stage, job, data):
        return None
    if job.status not in stage.statuses:
        log.info("job.not_for_stage", job_id=job.job_id, status=job.status.value, stage=stage.name)
        return None
    return job


async def run_job_stage(
    platform: Platform, stage: JobStage[E], ctx: MessageContext, event: CloudEvent[Any]
) -> None:
    """One delivery of a stage, measured: a metrics line (latency, failed or not) for every
    delivery the guard let through or that failed (the error is re-raised for the consumer)."""
    started = time.monotonic()
    job_id = str(getattr(event.data, "job_id", ""))
    try:
        ran = await _run_job_stage(platform, stage, ctx, event)
    except Exception:
        metrics.stage_ran(
            service=platform.service, stage=stage.name, job_id=job_id, started=started, failed=True
        )
        raise
    if ran:
        metrics.stage_ran(
            service=platform.service, stage=stage.name, job_id=job_id, started=started, failed=False
        )


async def _run_job_stage(
    platform: Platform, stage: JobStage[E], ctx: MessageContext, event: CloudEvent[Any]
) -> bool:
    if stage.work is None:
        job = await guarded_job(platform, stage, event.data)
        if job is None:
            return False
        with _stage_span(stage, job):
            call = StageCall(platform, ctx, event, event.data, job, stage)
            outputs = await stage.then(call, {}) if stage.then is not None else ()
            await deliver_outputs(platform, stage.name, stage.emits, outputs, event, job=job)
        return True
    _check_kind(stage, event.data)
    scope = stage.scope or stage.name
    claimed, job = await claim_run(
        platform.jobs,
        event.data.job_id,
        scope,
        _start_change(stage, ctx),
        tenant_id=event.data.tenant_id,
        kinds=stage.kinds,
        statuses=frozenset(s for s in stage.statuses if not s.terminal),
        lease_until_ms=ctx.lease_deadline_ms,
        now_ms=now_ms(),
    )
    if job is None or not _guard(stage, job, event.data):
        return False
    with _stage_span(stage, job):
        call = StageCall(platform, ctx, event, event.data, job, stage)
        if claimed:
            return await _run_work(platform, stage, call, scope)
        run = job.runs.get(scope) or {}
        done = run.get("state") == "done"
        if run.get("state") == "running" and not job.status.terminal:
            wait = max(1.0, (int(run.get("lease", 0)) - now_ms()) / 1000)
            raise AlreadyInProgress(
                f"stage {scope} of job {job.job_id} is running elsewhere", retry_after=wait
            )
        if job.status not in stage.statuses or not (done or job.status.terminal):
            # another state (or one the start transition may not leave): not this stage's
            log.info(
                "job.not_for_stage", job_id=job.job_id, status=job.status.value, stage=stage.name
            )
            return False
        # Done before (a redelivery, a retry), or a finished job: only the follow-ups again.
        if done:
            log.info("stage.replayed", job_id=job.job_id, stage=stage.name)
        result = json.loads(run["result"]) if done else {}
        outputs = await stage.then(call, result) if stage.then is not None else ()
        await deliver_outputs(platform, stage.name, stage.emits, outputs, event, job=job)
    return True


async def _run_work(platform: Platform, stage: JobStage[E], call: StageCall[E], scope: str) -> bool:
    """The claimed first run: the work, its follow-ups, then ONE write with the result, its
    charges and (when the follow-ups complete the job) the completion; then the outputs."""
    assert stage.work is not None
    job_id = call.job.job_id
    call.charges = charges = Charges()

    async def extend(deadline_ms: int) -> None:
        await extend_run(platform.jobs, job_id, scope, deadline_ms)

    call.ctx.on_lease_extended(extend)
    try:
        result = await stage.work(call)
    except BaseException as failure:
        try:
            now = await release_run(platform.jobs, job_id, scope, charges.change(stage.name))
        except Exception as cleanup:
            # The work's own error decides what happens next (a PermanentError must not
            # become retries because the release failed); the lease expires by itself.
            log.warning("stage.release_failed", job_id=job_id, error=type(cleanup).__name__)
            failure.add_note(f"releasing {scope} of {job_id} also failed: {cleanup!r}")
            raise failure from None
        if now is not None and now.status is JobStatus.CANCELLED:
            await _cancelled_in_flight(platform, job_id)
            return True  # its writes were refused: the job ended, nothing to retry
        raise
    call.charges = None  # follow-ups write as they go
    change = charges.change(stage.name)
    try:
        outputs = list(await stage.then(call, result)) if stage.then is not None else []
    except BaseException:
        # replayed next time
        await finish_run(platform.jobs, job_id, scope, change, result, read_back=False)
        raise
    done = [o for o in outputs if isinstance(o, Complete)]
    if done and JobCompleted not in stage.emits:
        raise TypeError(f"stage {stage.name} does not declare that it completes jobs")
    for completion in done[:1]:
        change.lifecycle(
            JobStatus.COMPLETED,
            stage="completed",
            fields={"output_key": completion.output_key} if completion.output_key else None,
        )
        change.entries.append(
            _timeline_entry(
                TimelineEvent.JOB_COMPLETED,
                completion.message,
                status=JobStatus.COMPLETED,
                stage="completed",
                data=completion.data,
            )
        )
    try:
        # Only a completion needs the job as written (job.completed carries its files, cost).
        finished = await finish_run(
            platform.jobs, job_id, scope, change, result, read_back=bool(done)
        )
    except Refused as refused:
        # The job ended meanwhile. Cancelled or failed: what the work stored goes; nothing
        # after it runs. Completed by another path (a parallel branch): nothing to undo.
        status = (refused.old or {}).get("status")
        if status == JobStatus.COMPLETED.value:
            log.info("stage.job_already_completed", job_id=job_id, stage=stage.name)
            return True
        if status in (JobStatus.CANCELLED.value, JobStatus.FAILED.value):
            await _cancelled_in_flight(platform, job_id)
            return True
        # Still running, but its state may not become what the stage's outputs ask (the
        # result is kept: a redelivery replays the follow-ups against the state then).
        raise ConflictError(
            f"job {job_id} is {status}: stage {stage.name} cannot complete it"
        ) from None
    events = [o for o in outputs if not isinstance(o, Complete)]
    await deliver_outputs(
        platform, stage.name, stage.emits, events, call.event, job=finished or call.job
    )
    if finished is not None:
        count_job(platform, "JobsCompleted", finished)
        await publish_completed(platform, finished)
    return True


async def _cancelled_in_flight(platform: Platform, job_id: str) -> None:
    log.info("job.cancelled_in_flight", job_id=job_id)
    await withdraw_deliverables(platform, job_id)


def _start_change(stage: JobStage[Any], ctx: MessageContext) -> JobChange:
    change = JobChange()
    start = stage.starts
    if start is None:
        change.set_fields({"stage": stage.name})
        return change
    change.lifecycle(start.status, stage=stage.name)
    change.entries.append(
        _timeline_entry(
            start.event,
            start.message,
            status=start.status,
            stage=stage.name,
            data={**(start.data or {}), "attempt": ctx.receive_count},
        )
    )
    return change


def _check_kind(stage: JobStage[Any], data: Any) -> None:
    kind = getattr(data, "kind", None)
    if kind is not None and kind not in stage.kinds:
        raise PermanentError(f"{stage.name} cannot handle a {kind!r} job", code="bad_kind")


def _guard(stage: JobStage[Any], job: Job, data: Any) -> bool:
    """Whether the event's job is the stage's to act on (a tenant mismatch is logged)."""
    if job.tenant_id != data.tenant_id:
        log.error("job.tenant_mismatch", job_id=data.job_id, stage=stage.name)
        return False
    if job.kind not in stage.kinds:
        raise PermanentError(f"{stage.name} cannot handle a {job.kind!r} job", code="bad_kind")
    return True


@contextmanager
def _stage_span(stage: JobStage[Any], job: Job) -> Iterator[None]:
    attributes = {
        "leadmagnet.job_id": job.job_id,
        "leadmagnet.tenant_id": job.tenant_id,
        "leadmagnet.stage": stage.name,
        "leadmagnet.job_kind": job.kind,
    }
    with tracing.span(f"stage {stage.name}", attributes):
        yield


async def deliver_outputs(
    platform: Platform,
    stage: str,
    emits: tuple[type[EventData], ...],
    outputs: Sequence[Output],
    cause: CloudEvent[Any],
    *,
    job: Job | None = None,
    identity: tuple[str, ...] = (),
    subject: str | None = None,
) -> None:
    """Publish a stage's outputs: only declared types, each with an id stable per subject."""
    events: list[CloudEvent[Any]] = []
    completions: list[Complete] = []
    for output in outputs:
        if isinstance(output, Complete):
            if JobCompleted not in emits or job is None:
                raise TypeError(f"stage {stage} does not declare that it completes jobs")
            completions.append(output)
            continue
        if type(output) not in emits:
            raise TypeError(f"stage {stage} does not declare {type(output).__name__}")
        spec = spec_of(type(output))
        about = job.job_id if job is not None else (subject or identity[-1])
        tenant_id = job.tenant_id if job is not None else getattr(output, "tenant_id", None)
        parts = (job.job_id,) if job is not None else identity
        events.append(
            platform.bus.event(
                output,
                subject=about,
                tenant_id=tenant_id,
                correlation_id=cause.correlationid,
                event_id=stable_id("evt", *parts, spec.name),
            )
        )
    await platform.bus.publish_many(events)
    for done in completions:
        assert job is not None
        await complete_job(
            platform, job.job_id, output_key=done.output_key, message=done.message, data=done.data
        )


Handle = Callable[[Platform, MessageContext, E], Awaitable[Sequence[Output]]]
DataHook = Callable[[Platform], FailureHook]


@dataclass(frozen=True)
class EventStage(Generic[E]):
    """A declared stage that is not about one job (e.g. a chat thread's hand-off).

    ``handle`` returns its outputs; the runtime publishes them with ids derived from
    ``identity(data)`` (what the event is about) and the output's type.
    """

    name: str
    consumes: tuple[type[E], ...]
    handle: Handle[E]
    identity: Callable[[E], tuple[str, ...]]
    emits: tuple[type[EventData], ...] = ()
    fails_with: tuple[str, ...] = ()
    on_failure: DataHook | None = None
    subject: Callable[[E], str] | None = None  # the envelope's subject; default identity's last

    def produces(self) -> set[str]:
        return {spec_of(m).type for m in self.emits}

    def routes(self, platform: Platform) -> Routes:
        hook = self.on_failure(platform) if self.on_failure is not None else None

        async def handle(ctx: MessageContext, event: CloudEvent[Any]) -> None:
            outputs = await self.handle(platform, ctx, event.data)
            await deliver_outputs(
                platform,
                self.name,
                self.emits,
                outputs,
                event,
                identity=self.identity(event.data),
                subject=self.subject(event.data) if self.subject else None,
            )

        return {spec_of(m).type: Route(handle, hook) for m in self.consumes}


AnyStage = JobStage[Any] | EventStage[Any]


@dataclass(frozen=True)
class ServicePlan:
    """A service's composition: the stages it runs, and what it publishes outside stages (the
    gateway's requests, for instance). Routes and contracts both come from here."""

    name: str
    stages: tuple[AnyStage, ...] = ()
    also_emits: tuple[type[EventData], ...] = ()

    def build(self, platform: Platform) -> tuple[Routes, FailureHook]:
        """The consumer's routes, and the hook for messages no stage could parse (their job
        fails, as any job whose message can no longer succeed)."""
        return self.routes(platform), job_failure_hook(platform, self.name)

    def routes(self, platform: Platform) -> Routes:
        merged: dict[str, Any] = {}
        for stage in self.stages:
            for type_, route in stage.routes(platform).items():
                if type_ in merged:
                    raise ValueError(f"event type {type_} is handled by two stages of {self.name}")
                merged[type_] = route
        return merged

    def consumes(self) -> set[str]:
        return {spec_of(m).type for s in self.stages for m in s.consumes}

    def produces(self) -> set[str]:
        out = {spec_of(m).type for m in self.also_emits}
        for stage in self.stages:
            out |= stage.produces()
        if self.stages:  # build()'s hook fails the job of a message that can never succeed
            out.add(spec_of(JobFailed).type)
        return out


def producers_of(plans: Iterable[ServicePlan]) -> dict[str, list[str]]:
    """Event type → the services that publish it, as the plans declare."""
    out: dict[str, list[str]] = {}
    for plan in plans:
        for type_ in sorted(plan.produces()):
            out.setdefault(type_, []).append(plan.name)
    return out


def load_plans(topology: Topology) -> list[ServicePlan]:
    """Every service's declared plan (``leadmagnet.<service>.handlers.PLAN``), for the contracts."""
    plans = []
    for service in topology.services:
        plan = getattr(importlib.import_module(f"leadmagnet.{service}.handlers"), "PLAN", None)
        if not isinstance(plan, ServicePlan) or plan.name != service:
            raise TypeError(f"leadmagnet.{service}.handlers declares no ServicePlan {service!r}")
        plans.append(plan)
    return plans


def stage_table(plans: Iterable[ServicePlan]) -> list[str]:
    """Markdown rows: service, stage, consumes, emits, fails with (for the event catalogue)."""

    def names(models: Iterable[type[EventData]]) -> str:
        return ", ".join(f"`{spec_of(m).name}`" for m in models) or "—"

    return [
        f"| {plan.name} | `{stage.name}` | {names(stage.consumes)} | {names(stage.emits)} | "
        f"{', '.join(f'`{c}`' for c in stage.fails_with) or '—'} |"
        for plan in plans
        for stage in plan.stages
    ]
