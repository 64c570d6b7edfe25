"""Jobs and their timelines.

Table ``jobs``: pk ``job_id``; GSI ``by_tenant`` (tenant_id, created_at) lists a tenant's jobs
newest first. A timeline entry's ``seq`` comes from the job item's ``event_seq`` counter,
incremented in the same UpdateItem as the change it records, so the timeline has a total order
that SSE readers can resume from (``Last-Event-ID``). One write per transition: the first
``TIMELINE_ON_ITEM`` entries are appended to the job item's own ``timeline`` list by that same
UpdateItem (an entry's seq is its position). Table ``job_events`` (pk ``job_id``, sk ``seq``)
holds the rest: every entry after the item's list is full, and the full text of an entry too
large for the item (the item keeps a stub at its position). Readers merge both
(``timeline_of``).
Status changes follow the lifecycle declared once in ``models.ALLOWED_TRANSITIONS``: the
UpdateItem that writes a status carries the condition ``#s IN (<the states that may become it>)``
(intersected with the caller's ``expected_status``), so a refused move is a ConflictError and the
item is left as it was, with no read-then-write race. Terminal states (completed, failed) have no
exits: a late or duplicate stage can never resurrect or re-fail a finished job, and an entry that
leaves the status alone is refused on a finished job too unless it asks for ``allow_terminal``
(logs, webhook outcomes).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

import structlog
from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import (
    DynamoTable,
    batch_put,
    deserialize,
    is_conditional_failure,
    parse_all_stored,
    serialize,
    values,
)
from ..errors import ConflictError, NotFoundError, PermanentError
from ..models import (
    RETRY_TRANSITION,
    RUN_ATTRIBUTE,
    TERMINAL_STATUSES,
    Artifact,
    Job,
    JobEvent,
    JobStatus,
    LogLevel,
    LogType,
    TimelineEvent,
    omit_defaults,
    pack_element,
    utcnow,
)
from ..providers.base import CallCost


def _cursor_encode(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _cursor_decode(cursor: str, tenant_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        key = None
    if (
        not isinstance(key, dict)
        or key.get("tenant_id") != tenant_id
        or set(key)
        != {
            "tenant_id",
            "job_id",
            "created_at",
        }
    ):
        raise PermanentError("cursor is not valid for this listing", code="invalid_cursor")
    return key


def template_ref(tenant_id: str, template_id: str) -> str:
    return f"{tenant_id}#{template_id}"


def delivers(job: Job) -> bool:
    """Whether a job may show its deliverables (output, artifacts, run output and images, kit
    assets) — the one rule every view asks (API, runs API, job page, webhooks).

    Seed 004: results exist only after approval. A job that is still pending, processing or
    waiting (``awaiting_callback``, ``awaiting_confirmation``) has nothing to deliver yet, and a
    failed one never will: whatever it produced before failing (a rendered page behind a
    rejected approval gate, half a kit, a run's first images) is withdrawn, not shown.
    """
    return job.status is JobStatus.COMPLETED


def visible_data(job: Job) -> dict[str, Any]:
    """``job.data`` as a view may show it: without links to deliverables unless delivered.

    Funnel runs record the new image URLs in ``image_results`` while they run; a kept original
    is the customer's own URL and stays.
    """
    if delivers(job):
        return job.data
    data = dict(job.data)
    results = data.get("image_results")
    if isinstance(results, list):
        data["image_results"] = [
            {**r, "new_url": r.get("original_url") if r.get("status") == "kept_original" else None}
            if isinstance(r, dict)
            else r
            for r in results
        ]
    return data


class RecordOptions(TypedDict, total=False):
    """``JobStore.record`` / ``transition``'s options (see ``record``)."""

    status: JobStatus | None
    stage: str | None
    data: dict[str, Any] | None
    set_fields: dict[str, Any] | None
    allow_terminal: bool
    expected_status: set[JobStatus] | None
    level: LogLevel
    log_type: LogType


class JobStore:
    def __init__(self, aws: AwsClients, jobs_table: str, events_table: str) -> None:
        self.jobs = DynamoTable(aws, jobs_table)
        self.events = DynamoTable(aws, events_table)
        self.client = aws.dynamodb

    async def create(
        self,
        job: Job,
        *,
        message: str = "job created",
        along: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> Job:
        """Put a new job with its first timeline entry (one write). ``along``: (table, item)
        pairs written in the same BatchWriteItem (the job's submission); the job id is new and
        random, so that write needs no ``attribute_not_exists`` guard."""
        job.event_seq = 1
        item = job.model_dump(mode="json")
        # artifact_ids is a string set (ADD is idempotent); DynamoDB has no empty sets.
        item.pop("artifact_ids", None)
        item["cost_calls"] = [pack_element(c) for c in job.cost_calls]
        entry, full = _on_item(
            timeline_entry(TimelineEvent.JOB_CREATED, message, status=job.status)
        )
        item["timeline"] = [entry]
        if along:
            await batch_put(self.client, [*along, (self.jobs.name, item)])
        else:
            await self.jobs.put(item, ConditionExpression="attribute_not_exists(job_id)")
        if full is not None:
            await self._put_full(job.job_id, 1, full)
        job.timeline = [json.loads(entry)]
        return job

    async def get(self, job_id: str) -> Job | None:
        item = await self.jobs.get({"job_id": job_id})
        return Job.model_validate(item) if item else None

    async def require(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found")
        return job

    async def list_for_tenant(
        self, tenant_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.jobs.name,
            "IndexName": "by_tenant",
            "KeyConditionExpression": "tenant_id = :t",
            "ExpressionAttributeValues": values(t=tenant_id),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(_cursor_decode(cursor, tenant_id))
        resp = await self.client.query(**kwargs)
        jobs = parse_all_stored(Job, [deserialize(i) for i in resp.get("Items", [])])
        last = resp.get("LastEvaluatedKey")
        return jobs, _cursor_encode(deserialize(last) if last else None)

    async def record(
        self,
        job_id: str,
        event_type: TimelineEvent,
        message: str = "",
        **options: Unpack[RecordOptions],
    ) -> None:
        """Apply a transition (status/stage/fields) and append a timeline event in one write,
        ordered by ``event_seq``; nothing is read back (``transition`` returns the job as
        written). ``event_type`` is a ``TimelineEvent`` (plain strings of the same values are
        accepted). ``set_fields`` keys may be paths into a map attribute
        (``"data.image_results"``).

        Raises ConflictError, leaving the job unchanged, when the job is missing or when:

        - ``status`` is given and the job's state may not become it (``JobStatus.can_become``)
          or is not one of ``expected_status`` (when given);
        - ``status`` is None and the job is terminal (unless ``allow_terminal``: a note after the
          end) or not in ``expected_status``.

        ``allow_terminal`` never lets a status change leave a terminal state."""
        await self._record(job_id, event_type, message, options, read_back=False)

    async def transition(
        self,
        job_id: str,
        event_type: TimelineEvent,
        message: str = "",
        **options: Unpack[RecordOptions],
    ) -> Job:
        """``record``, returning the job as the write left it (in the same UpdateItem)."""
        item = await self._record(job_id, event_type, message, options, read_back=True)
        assert item is not None  # read_back: the write returns the whole item
        return Job.model_validate(item)

    async def _record(
        self,
        job_id: str,
        event_type: TimelineEvent,
        message: str,
        options: RecordOptions,
        *,
        read_back: bool,
    ) -> dict[str, Any] | None:
        status = options.get("status")
        stage = options.get("stage")
        expected_status = options.get("expected_status")
        change = JobChange()
        change.lifecycle(
            status,
            expected_status=expected_status,
            allow_terminal=options.get("allow_terminal", False),
            stage=stage,
            fields=options.get("set_fields"),
        )
        if change.refused:
            raise ConflictError(self._refusal(job_id, event_type, status, expected_status))
        change.entries.append(
            timeline_entry(
                event_type,
                message,
                status=status,
                stage=stage,
                data=options.get("data"),
                level=options.get("level", "info"),
                log_type=options.get("log_type", "event"),
            )
        )
        try:
            if read_back:
                return await self.write(job_id, change)
            await self.write_only(job_id, change)
            return None
        except Refused as refused:
            current = refused.old.get("status") if refused.old else None
            raise ConflictError(
                self._refusal(job_id, event_type, status, expected_status, current)
            ) from None

    async def write(self, job_id: str, change: JobChange) -> dict[str, Any]:
        """One UpdateItem: ``change`` and its timeline entries (on the item while its list has
        room, else in ``job_events`` after the write took their seqs). Returns the new item;
        raises ``Refused`` with the old item (None: no such job) when a condition fails."""
        item = await self._write(job_id, change, read_back=True)
        assert item is not None
        return item

    async def write_only(self, job_id: str, change: JobChange) -> None:
        """``write`` for a caller that does not use the item: the job item (timeline and run
        results included) is not sent back, unless the entries' seqs need it."""
        await self._write(job_id, change, read_back=False)

    async def _write(
        self, job_id: str, change: JobChange, *, read_back: bool
    ) -> dict[str, Any] | None:
        placed = [_on_item(e) for e in change.entries]  # packed and sized once per write
        on_item = True
        while True:
            too_large = [full for _, full in placed] if on_item else []
            # The new event_seq numbers entries stored apart; nothing else needs the item back.
            returns = read_back or not on_item or any(e is not None for e in too_large)
            kwargs = change.expression(
                on_item=[packed for packed, _ in placed] if on_item else None, returns=returns
            )
            try:
                item = await self.jobs.update({"job_id": job_id}, **kwargs)
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
                raw = e.response.get("Item")
                old = deserialize(raw) if raw else None
                if on_item and change.entries and old and _list_full(old, len(change.entries)):
                    on_item = False  # the item's list is full: these entries go to job_events
                    continue
                raise Refused(old) from None
            break
        if not returns:
            return None
        count = len(change.entries)
        if count:
            first = int(item["event_seq"]) - count + 1
            for i, entry in enumerate(change.entries):
                if not on_item:  # the whole entry, with the status it was written under
                    full: dict[str, Any] | None = {
                        **entry,
                        "status": entry.get("status") or item.get("status"),
                    }
                else:
                    full = too_large[i]
                if full is not None:
                    await self._put_full(job_id, first + i, full)
        return item

    async def _put_full(self, job_id: str, seq: int, entry: dict[str, Any]) -> None:
        """An entry in ``job_events`` at ``seq`` (taken by the write that recorded it)."""
        await self.events.put(
            {"job_id": job_id, "seq": seq, **entry},
            ConditionExpression="attribute_not_exists(seq)",
        )

    @staticmethod
    def _refusal(
        job_id: str,
        event_type: str,
        status: JobStatus | None,
        expected_status: set[JobStatus] | None,
        current: object = None,
    ) -> str:
        """Why a conditional write was refused (``current``: the job's status, when known)."""
        now = f" (it is {current})" if current else " (or missing)"
        if status is not None:
            allowed = sorted(
                s.value for s in status.predecessors & (expected_status or set(JobStatus))
            )
            return (
                f"job {job_id} cannot become {status.value} ({event_type}): not in {allowed}{now}"
            )
        if expected_status:
            return f"job {job_id} is not in {sorted(s.value for s in expected_status)}{now}"
        return f"job {job_id} cannot take {event_type}: it is missing or in a final state"

    async def log(
        self,
        job_id: str,
        message: str,
        *,
        level: LogLevel = "info",
        log_type: LogType = "event",
        stage: str | None = None,
        data: dict[str, Any] | None = None,
        event_type: TimelineEvent = TimelineEvent.LOG,
    ) -> None:
        """Append a log entry to the timeline without changing the job (late entries after
        completion are kept too: they record what really happened)."""
        await self.record(
            job_id,
            event_type,
            message,
            stage=stage,
            data=data,
            allow_terminal=True,
            level=level,
            log_type=log_type,
        )

    async def fail(
        self,
        job_id: str,
        *,
        code: str,
        message: str,
        stage: str | None = None,
        retry_event: str | None = None,
    ) -> Job | None:
        """Mark failed once (from any state that is not final); None when the job was already
        final (or unknown). ``retry_event``: what a retry re-publishes, written with the
        failure (a failure without one is not retryable)."""
        fields: dict[str, Any] = {
            "error_code": code,
            "error_message": message[:2000],
            "retry_event": retry_event,  # null clears an earlier failure's
        }
        try:
            return await self.transition(
                job_id,
                TimelineEvent.JOB_FAILED,
                message,
                status=JobStatus.FAILED,
                stage=stage,
                set_fields=fields,
                data={"error_code": code},
                level="error",
            )
        except ConflictError:
            return None

    async def reopen(self, job_id: str, tenant_id: str, message: str) -> Job:
        """The retry API's move (``models.RETRY_TRANSITION``): a failed job of the tenant that
        has a retry event becomes processing again, its error cleared, in one conditional write
        (of two racing retries one wins; ConflictError for the other). The retry event stays
        on the returned job for the caller to re-publish; the next failure overwrites it."""
        before, after = RETRY_TRANSITION
        change = JobChange()
        change.sets["#s = :after"] = {"after": after.value}
        change.sets["stage = :stage"] = {"stage": "retry"}
        change.sets["retries = if_not_exists(retries, :zero) + :one"] = {"zero": 0, "one": 1}
        change.names["#s"] = "status"
        change.removes += ["error_code", "error_message", "failed_at"]
        change.conditions.append("tenant_id = :t AND #s = :before")
        change.conditions.append("attribute_type(retry_event, :string)")
        change.vals.update({"t": tenant_id, "before": before.value, "string": "S"})
        change.entries.append(
            timeline_entry(TimelineEvent.JOB_RETRIED, message, status=after, stage="retry")
        )
        try:
            item = await self.write(job_id, change)
        except Refused:
            raise ConflictError(f"job {job_id} is not a failed job that can be retried") from None
        return Job.model_validate(item)

    async def list_for_template(
        self, tenant_id: str, template_id: str, *, limit: int = 10
    ) -> list[Job]:
        """Jobs run from a template, newest first (the sparse ``by_template`` index)."""
        resp = await self.client.query(
            TableName=self.jobs.name,
            IndexName="by_template",
            KeyConditionExpression="template_ref = :r",
            ExpressionAttributeValues=values(r=template_ref(tenant_id, template_id)),
            ScanIndexForward=False,
            Limit=limit,
        )
        return parse_all_stored(Job, [deserialize(i) for i in resp.get("Items", [])])

    async def query_tenant(
        self,
        tenant_id: str,
        *,
        since: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        page_size: int = 100,
        max_pages: int = 10,
    ) -> tuple[list[Job], bool]:
        """The tenant's jobs newest first through ``by_tenant``, for reports (read-only).

        Bounded: at most ``max_pages`` queries of ``page_size`` items each. ``since`` (an ISO
        UTC timestamp prefix, e.g. '2026-01-31T00:00:00') keeps jobs created at or after it (a
        key condition, so older jobs are never read); ``kind`` filters (after reading);
        ``limit`` stops at that many matches. Returns (jobs, truncated): truncated when the
        page bound stopped the listing before its end."""
        kwargs: dict[str, Any] = {
            "TableName": self.jobs.name,
            "IndexName": "by_tenant",
            "KeyConditionExpression": "tenant_id = :t",
            "ExpressionAttributeValues": values(t=tenant_id),
            "ScanIndexForward": False,
            "Limit": page_size,
        }
        if since is not None:
            kwargs["KeyConditionExpression"] = "tenant_id = :t AND created_at >= :since"
            kwargs["ExpressionAttributeValues"] = values(t=tenant_id, since=since)
        if kind is not None:
            kwargs["FilterExpression"] = "#kind = :kind"
            kwargs["ExpressionAttributeNames"] = {"#kind": "kind"}
            kwargs["ExpressionAttributeValues"] |= values(kind=kind)
        jobs: list[Job] = []
        for _ in range(max_pages):
            resp = await self.client.query(**kwargs)
            jobs += parse_all_stored(Job, [deserialize(i) for i in resp.get("Items", [])])
            last = resp.get("LastEvaluatedKey")
            if limit is not None and len(jobs) >= limit:
                return jobs[:limit], last is not None or len(jobs) > limit
            if not last:
                return jobs, False
            kwargs["ExclusiveStartKey"] = last
        return jobs, True

    async def add_cost(self, job_id: str, call: CallCost) -> None:
        await self.jobs.update(
            {"job_id": job_id},
            UpdateExpression="ADD cost_micros :c SET cost_calls = "
            "list_append(if_not_exists(cost_calls, :empty), :call)",
            ExpressionAttributeValues=values(
                c=call.cost_micros, empty=[], call=[pack_element(call)]
            ),
        )

    async def add_artifact(self, job_id: str, artifact_id: str) -> None:
        await self.jobs.update(
            {"job_id": job_id},
            UpdateExpression="ADD artifact_ids :a",
            ExpressionAttributeValues=values(a={artifact_id}),
        )

    async def record_files(self, job_id: str, files: dict[str, str]) -> None:
        """Record the job's result/log files once they are written (the view links only
        these: a link must never point at a file that is not there yet)."""
        await self.jobs.update(
            {"job_id": job_id},
            UpdateExpression="SET #f = :f",
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames={"#f": "files"},
            ExpressionAttributeValues=values(f=files),
        )

    async def timeline(self, job_id: str, *, after_seq: int = 0) -> list[JobEvent]:
        job = await self.get(job_id)
        return await self.timeline_of(job, after_seq=after_seq) if job else []

    async def timeline_of(self, job: Job, *, after_seq: int = 0) -> list[JobEvent]:
        """The timeline of a job already read: its item's entries, and ``job_events`` only
        when the item does not hold everything after ``after_seq``."""
        entries: dict[int, dict[str, Any]] = {}
        incomplete = job.event_seq > len(job.timeline)
        for i, entry in enumerate(job.timeline):
            entries[i + 1] = entry
            incomplete = incomplete or (bool(entry.get("stub")) and i + 1 > after_seq)
        if incomplete:
            stored = await self.events.query(
                KeyConditionExpression="job_id = :j AND seq > :s",
                ExpressionAttributeValues=values(j=job.job_id, s=after_seq),
            )
            for item in stored:
                entries[int(item["seq"])] = item
        out: list[JobEvent] = []
        status: str | None = None
        for seq in sorted(entries):
            entry = entries[seq]
            status = entry.get("status") or status  # an entry without one: the job's as it was
            if seq > after_seq:
                fields = {k: v for k, v in entry.items() if k not in ("stub", "job_id", "seq")}
                out.append(
                    JobEvent.model_validate(
                        {**fields, "job_id": job.job_id, "seq": seq, "status": status}
                    )
                )
        return out


class Refused(Exception):
    """A job write's condition failed; ``old`` is the item as it was (None: no such job)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.old = old


# Entries kept on the job item (a lead magnet writes about six; long runs overflow to the
# table), and the largest entry kept whole there (a larger one leaves a stub on the item).
TIMELINE_ON_ITEM = 64
MAX_ON_ITEM_BYTES = 1024


def timeline_entry(
    event_type: str,
    message: str,
    *,
    status: JobStatus | None = None,
    stage: str | None = None,
    data: dict[str, Any] | None = None,
    level: LogLevel = "info",
    log_type: LogType = "event",
) -> dict[str, Any]:
    """A timeline entry as stored (its seq is where it lands; a missing status reads as the
    job's status at that point)."""
    bound = structlog.contextvars.get_contextvars()
    entry: dict[str, Any] = {
        "type": str(event_type),  # a TimelineEvent is stored as its value
        "at": utcnow().isoformat(),
        "message": message,
        "data": data or {},
        "level": level,
        "log_type": log_type,
    }
    if status is not None:
        entry["status"] = status.value
    if stage is not None:
        entry["stage"] = stage
    request_id = bound.get("request_id") or bound.get("message_id")
    if request_id:
        entry["request_id"] = request_id
    return entry


def _on_item(entry: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(what the item's list holds, packed; the full entry for job_events when it is too
    large for the item)."""
    packed = pack_element(omit_defaults(entry, JobEvent))
    if len(packed) <= MAX_ON_ITEM_BYTES:
        return packed, None
    stub = {k: v for k, v in entry.items() if k not in ("data", "message")}
    stub = omit_defaults({**stub, "message": entry["message"][:200]}, JobEvent)
    return pack_element({**stub, "stub": True}), entry


def registered(artifact: Artifact) -> dict[str, Any]:
    """A file's record as the job item's ``artifact_refs`` holds it: the job's own ids left
    out (``registered_artifacts`` puts them back), and the defaults."""
    return artifact.model_dump(mode="json", exclude_defaults=True, exclude={"job_id", "tenant_id"})


def _list_full(old: dict[str, Any], adding: int) -> bool:
    timeline = old.get("timeline")
    return not isinstance(timeline, list) or len(timeline) + adding > TIMELINE_ON_ITEM


class JobChange:
    """One UpdateItem on a job, assembled: SET/ADD/REMOVE clauses, conditions, and the
    timeline entries it appends. ``JobStore.write`` applies it."""

    def __init__(self) -> None:
        self.sets: dict[str, dict[str, Any]] = {}  # clause -> the values it names
        self.adds: dict[str, dict[str, Any]] = {}
        self.removes: list[str] = []
        self.conditions: list[str] = ["attribute_exists(job_id)"]
        self.names: dict[str, str] = {}
        self.vals: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.refused = False  # the lifecycle cannot allow it whatever the job's state
        self._counter = 0

    def charge(
        self,
        *,
        costs: Sequence[CallCost] = (),
        artifacts: Sequence[Artifact] = (),
    ) -> None:
        """Charge model calls and register files on the job (``artifact_refs``: a file's
        record without the job's own ids, which its reader puts back)."""
        if costs:
            self.adds["cost_micros :cost"] = {"cost": sum(c.cost_micros for c in costs)}
            self.sets["cost_calls = list_append(if_not_exists(cost_calls, :empty), :calls)"] = {
                "empty": [],
                "calls": [pack_element(c) for c in costs],
            }
        if artifacts:
            self.adds["artifact_ids :art_ids"] = {"art_ids": {a.artifact_id for a in artifacts}}
            self.sets[
                "artifact_refs = list_append(if_not_exists(artifact_refs, :empty), :refs)"
            ] = {"empty": [], "refs": [pack_element(registered(a)) for a in artifacts]}

    def charges_only(self) -> JobChange:
        """A change with this one's charges (costs, files) and nothing else."""
        kept = JobChange()
        for clause, vals in self.sets.items():
            if clause.startswith(("cost_calls", "artifact_refs")):
                kept.sets[clause] = vals
        for clause, vals in self.adds.items():
            if clause.startswith(("cost_micros", "artifact_ids")):
                kept.adds[clause] = vals
        return kept

    def set_fields(self, fields: dict[str, Any]) -> None:
        """``SET`` top-level attributes or paths into maps (``"data.image_results"``)."""
        for k, v in fields.items():
            i = self._counter = self._counter + 1
            path = []
            for j, part in enumerate(k.split(".")):
                self.names[f"#f{i}_{j}"] = part
                path.append(f"#f{i}_{j}")
            self.sets[f"{'.'.join(path)} = :f{i}"] = {f"f{i}": v}

    def lifecycle(
        self,
        status: JobStatus | None,
        *,
        expected_status: set[JobStatus] | frozenset[JobStatus] | None = None,
        allow_terminal: bool = False,
        stage: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """The status move (checked by the write itself against ``models``' lifecycle), or for
        an entry that leaves the status alone, that the job is not finished; with the ``stage``
        and other ``fields`` to set (they may override ``completed_at`` / ``failed_at``)."""
        merged = dict(fields or {})
        if status is not None:
            merged["status"] = status.value
            if status is JobStatus.COMPLETED:
                merged.setdefault("completed_at", utcnow().isoformat())
            if status is JobStatus.FAILED:
                merged.setdefault("failed_at", utcnow().isoformat())
            allowed = set(status.predecessors)
            if expected_status:
                allowed &= set(expected_status)
            if not allowed:
                self.refused = True
                return
            self.conditions.append(self.status_in(allowed))
        else:
            if not allow_terminal:
                self.conditions.append(f"NOT {self.status_in(TERMINAL_STATUSES)}")
            if expected_status:
                self.conditions.append(self.status_in(expected_status))
        if stage is not None:
            merged["stage"] = stage
        self.set_fields(merged)

    def status_in(self, allowed: set[JobStatus] | frozenset[JobStatus]) -> str:
        self.names["#s"] = "status"
        keys = []
        for st in sorted(allowed):
            key = f"s_{st.value}"
            self.vals[key] = st.value
            keys.append(f":{key}")
        return f"#s IN ({', '.join(keys)})"

    def expression(self, *, on_item: list[str] | None, returns: bool = True) -> dict[str, Any]:
        """The UpdateItem's arguments. ``on_item``: the entries as the item's list holds them
        (``_on_item``), appended to it; None: they go to ``job_events``. ``returns``: send the
        new item back."""
        names = dict(self.names)
        vals = dict(self.vals)
        for clause_vals in (*self.sets.values(), *self.adds.values()):
            vals.update(clause_vals)
        names["#u"] = "updated_at"
        vals["u"] = utcnow().isoformat()
        sets = ["#u = :u", *self.sets]
        adds = list(self.adds)
        conditions = list(self.conditions)
        if self.entries:
            names["#seq"] = "event_seq"
            vals["n_entries"] = len(self.entries)
            adds.append("#seq :n_entries")
            if on_item is not None:
                names["#tl"] = "timeline"
                vals["tl"] = on_item
                vals["tl_room"] = TIMELINE_ON_ITEM - len(self.entries)
                sets.append("#tl = list_append(#tl, :tl)")
                conditions.append("size(#tl) <= :tl_room")
        expression = f"SET {', '.join(sets)}"
        if adds:
            expression += f" ADD {', '.join(adds)}"
        if self.removes:
            expression += f" REMOVE {', '.join(self.removes)}"
        kwargs: dict[str, Any] = {
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values(**vals),
            "ReturnValues": "ALL_NEW" if returns else "NONE",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return kwargs


# ---- stage runs: the stage runtime's once-only record, on the job item ----------------------
#
# A stage's work runs once per job: ``claim_run`` takes the job's ``run:<scope>`` record with a
# lease in the same conditional write that checks the job (tenant, kind, a state the stage works
# in) and makes the stage's start transition, and returns the job; ``finish_run`` stores the
# work's result with everything the work charged to the job (costs, files, timeline notes, and
# the completion when the stage completes the job) in one write. The job's own conditional
# transitions are the idempotency record: no second table, no read before or after.

RUN_STATE = "#run_state"
RUN_LEASE = "#run_lease"
RUN_HOLDER = "#run_holder"


def _run_names(change: JobChange, scope: str, *, state: bool = False, lease: bool = False) -> None:
    """The run record's attribute names (DynamoDB refuses names an expression does not use)."""
    change.names["#run"] = f"{RUN_ATTRIBUTE}{scope}"
    if state:
        change.names[RUN_STATE] = "state"
    if lease:
        change.names[RUN_LEASE] = "lease"


async def claim_run(
    store: JobStore,
    job_id: str,
    scope: str,
    change: JobChange,
    *,
    tenant_id: str,
    kinds: frozenset[str],
    statuses: frozenset[JobStatus],
    lease_until_ms: int,
    now_ms: int,
) -> tuple[bool, Job | None]:
    """Claim the stage's run of a job: (True, the job as claimed), or (False, the job as it
    is; None if there is none) when the job is another tenant's, another kind, in a state the
    stage does not work in, or its run is done or leased elsewhere. ``change`` is the stage's
    start transition (its status move, timeline entry), applied with the claim."""
    _run_names(change, scope, state=True, lease=True)
    # The holder token makes the write safe to repeat: the SDK re-sending it after a lost
    # answer finds its own claim, not a stranger's.
    holder = secrets.token_hex(8)
    change.names[RUN_HOLDER] = "holder"
    change.sets["#run = :run_claim"] = {
        "run_claim": {"state": "running", "lease": lease_until_ms, "holder": holder}
    }
    change.names["#kind"] = "kind"
    kinds_keys = []
    for i, kind in enumerate(sorted(kinds)):
        change.vals[f"run_kind{i}"] = kind
        kinds_keys.append(f":run_kind{i}")
    change.vals.update({"run_t": tenant_id, "run_running": "running", "run_now": now_ms})
    change.conditions += [
        "tenant_id = :run_t",
        f"#kind IN ({', '.join(kinds_keys)})",
        change.status_in(statuses),
        f"(attribute_not_exists(#run) OR (#run.{RUN_STATE} = :run_running "
        f"AND (#run.{RUN_LEASE} < :run_now OR #run.{RUN_HOLDER} = :run_holder)))",
    ]
    change.vals["run_holder"] = holder
    try:
        item = await store.write(job_id, change)
    except Refused as refused:
        return False, Job.model_validate(refused.old) if refused.old else None
    return True, Job.model_validate(item)


async def finish_run(
    store: JobStore,
    job_id: str,
    scope: str,
    change: JobChange,
    result: dict[str, Any],
    *,
    read_back: bool = True,
) -> Job | None:
    """Store the run's result with ``change`` (what the work charged to the job, and the
    completion if any): the job as written, or None without ``read_back`` (a finish that does
    not complete the job needs nothing of it). Raises ``Refused`` when the job ended meanwhile
    (cancelled, failed): then nothing of the change but the run's result and charges is kept."""
    _run_names(change, scope)
    done = {"state": "done", "result": json.dumps(result, default=str)}
    change.sets["#run = :run_done"] = {"run_done": done}
    if not any(c.startswith("#s IN") or c.startswith("NOT #s IN") for c in change.conditions):
        change.conditions.append(f"NOT {change.status_in(TERMINAL_STATUSES)}")
    try:
        if read_back:
            return Job.model_validate(await store.write(job_id, change))
        await store.write_only(job_id, change)
        return None
    except Refused:
        # Ended meanwhile: keep the result (a retry replays it) and what it cost.
        kept = change.charges_only()
        kept.sets["#run = :run_done"] = {"run_done": done}
        _run_names(kept, scope)
        await store.write_only(job_id, kept)
        raise


async def release_run(store: JobStore, job_id: str, scope: str, change: JobChange) -> Job | None:
    """After the work failed: drop our lease so a redelivery can run it, keeping what the
    failed attempt cost. The job as it is now (None if gone)."""
    kept = change.charges_only()
    _run_names(kept, scope, state=True)
    kept.removes.append("#run")
    kept.vals["run_running"] = "running"
    kept.conditions.append(f"(attribute_not_exists(#run) OR #run.{RUN_STATE} = :run_running)")
    try:
        return Job.model_validate(await store.write(job_id, kept))
    except Refused as refused:
        if refused.old is None:
            return None
        charges = change.charges_only()
        if charges.sets or charges.adds:
            await store.write_only(job_id, charges)
        return Job.model_validate(refused.old)


async def extend_run(store: JobStore, job_id: str, scope: str, lease_until_ms: int) -> None:
    """Extend our lease with the message's (the consumer's heartbeat)."""
    change = JobChange()
    _run_names(change, scope, state=True, lease=True)
    change.sets[f"#run.{RUN_LEASE} = :run_lease"] = {"run_lease": lease_until_ms}
    change.vals["run_running"] = "running"
    change.conditions.append(f"#run.{RUN_STATE} = :run_running")
    try:
        await store.write_only(job_id, change)
    except Refused:
        structlog.get_logger().warning("run.extend_lost", job_id=job_id, scope=scope)
