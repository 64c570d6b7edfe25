"""Jobs and their timelines.

Table ``jobs``: pk ``job_id``; GSI ``by_tenant`` (tenant_id, created_at) lists a tenant's jobs
newest first. Table ``job_events``: pk ``job_id``, sk ``seq``; ``seq`` comes from the job item's
atomic ``event_seq`` counter, incremented in the same UpdateItem as the status change, so the
timeline has a total order that SSE readers can resume from (``Last-Event-ID``).
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
from typing import Any

import structlog
from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import (
    DynamoTable,
    deserialize,
    is_conditional_failure,
    parse_all_stored,
    serialize,
    values,
)
from ..errors import ConflictError, NotFoundError, PermanentError
from ..models import (
    RETRY_TRANSITION,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobStatus,
    LogLevel,
    LogType,
    TimelineEvent,
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


class JobStore:
    def __init__(self, aws: AwsClients, jobs_table: str, events_table: str) -> None:
        self.jobs = DynamoTable(aws, jobs_table)
        self.events = DynamoTable(aws, events_table)
        self.client = aws.dynamodb

    async def create(self, job: Job, *, message: str = "job created") -> Job:
        job.event_seq = 1
        item = job.model_dump(mode="json")
        # artifact_ids is a string set (ADD is idempotent); DynamoDB has no empty sets.
        item.pop("artifact_ids", None)
        await self.jobs.put(item, ConditionExpression="attribute_not_exists(job_id)")
        await self._put_event(job, 1, TimelineEvent.JOB_CREATED, message, {})
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
        *,
        status: JobStatus | None = None,
        stage: str | None = None,
        data: dict[str, Any] | None = None,
        set_fields: dict[str, Any] | None = None,
        allow_terminal: bool = False,
        expected_status: set[JobStatus] | None = None,
        level: LogLevel = "info",
        log_type: LogType = "event",
    ) -> Job:
        """Apply a transition (status/stage/fields) and append a timeline event, atomically
        ordered by ``event_seq``. ``event_type`` is a ``TimelineEvent`` (plain strings of the same
        values are accepted). ``set_fields`` keys may be paths into a map attribute
        (``"data.image_results"``).

        Raises ConflictError, leaving the job unchanged, when the job is missing or when:

        - ``status`` is given and the job's state may not become it (``JobStatus.can_become``)
          or is not one of ``expected_status`` (when given);
        - ``status`` is None and the job is terminal (unless ``allow_terminal``: a note after the
          end) or not in ``expected_status``.

        ``allow_terminal`` never lets a status change leave a terminal state."""
        now = utcnow()
        names = {"#u": "updated_at", "#seq": "event_seq"}
        vals: dict[str, Any] = {"u": now.isoformat(), "one": 1}
        sets = ["#u = :u"]
        fields = dict(set_fields or {})
        if status is not None:
            fields["status"] = status.value
            if status is JobStatus.COMPLETED:
                fields.setdefault("completed_at", now.isoformat())
            if status is JobStatus.FAILED:
                fields.setdefault("failed_at", now.isoformat())
        if stage is not None:
            fields["stage"] = stage
        for i, (k, v) in enumerate(fields.items()):
            path = []
            for j, part in enumerate(k.split(".")):
                names[f"#f{i}_{j}"] = part
                path.append(f"#f{i}_{j}")
            vals[f"f{i}"] = v
            sets.append(f"{'.'.join(path)} = :f{i}")
        conditions = ["attribute_exists(job_id)"]
        if status is not None:
            # The one place the lifecycle is enforced: the states that may become ``status``
            # (and that the caller expects), checked by the write itself.
            allowed = status.predecessors
            if expected_status:
                allowed &= expected_status
            if not allowed:
                raise ConflictError(self._refusal(job_id, event_type, status, expected_status))
            conditions.append(self._status_in(allowed, names, vals))
        else:
            if not allow_terminal:
                names["#s"] = "status"
                finals = []
                for i, st in enumerate(sorted(TERMINAL_STATUSES)):
                    vals[f"t{i}"] = st.value
                    finals.append(f":t{i}")
                conditions.append(f"NOT #s IN ({', '.join(finals)})")
            if expected_status:
                conditions.append(self._status_in(expected_status, names, vals))
        try:
            item = await self.jobs.update(
                {"job_id": job_id},
                UpdateExpression=f"SET {', '.join(sets)} ADD #seq :one",
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(**vals),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            old = e.response.get("Item")  # ReturnValuesOnConditionCheckFailure
            current = deserialize(old).get("status") if old else None
            raise ConflictError(
                self._refusal(job_id, event_type, status, expected_status, current)
            ) from None
        job = Job.model_validate(item)
        await self._put_event(
            job,
            job.event_seq,
            event_type,
            message,
            data or {},
            stage=stage,
            level=level,
            log_type=log_type,
        )
        return job

    @staticmethod
    def _status_in(
        allowed: set[JobStatus] | frozenset[JobStatus], names: dict[str, str], vals: dict[str, Any]
    ) -> str:
        names["#s"] = "status"
        keys = []
        for i, st in enumerate(sorted(allowed)):
            vals[f"s{i}"] = st.value
            keys.append(f":s{i}")
        return f"#s IN ({', '.join(keys)})"

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

    async def _put_event(
        self,
        job: Job,
        seq: int,
        event_type: str,
        message: str,
        data: dict[str, Any],
        stage: str | None = None,
        level: LogLevel = "info",
        log_type: LogType = "event",
    ) -> None:
        bound = structlog.contextvars.get_contextvars()
        event = JobEvent(
            job_id=job.job_id,
            seq=seq,
            type=str(event_type),  # a TimelineEvent is stored as its value
            at=job.updated_at,
            status=job.status,
            stage=stage,
            message=message,
            data=data,
            level=level,
            log_type=log_type,
            request_id=bound.get("request_id") or bound.get("message_id"),
        )
        for _ in range(5):
            try:
                # Never overwrite an entry: if the counter ever handed out a seq twice (an
                # endpoint without atomic updates), take the next one instead.
                await self.events.put(
                    event.model_dump(mode="json"), ConditionExpression="attribute_not_exists(seq)"
                )
                return
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
            bumped = await self.jobs.update(
                {"job_id": job.job_id},
                UpdateExpression="ADD #seq :one",
                ExpressionAttributeNames={"#seq": "event_seq"},
                ExpressionAttributeValues=values(one=1),
                ReturnValues="UPDATED_NEW",
            )
            event = event.model_copy(update={"seq": int(bumped["event_seq"])})
        raise ConflictError(f"could not append to the timeline of job {job.job_id}")

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
            return await self.record(
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
        now = utcnow()
        try:
            item = await self.jobs.update(
                {"job_id": job_id},
                UpdateExpression="SET #s = :after, #u = :u, stage = :stage, "
                "retries = if_not_exists(retries, :zero) + :one "
                "REMOVE error_code, error_message, failed_at ADD #seq :one",
                ConditionExpression="tenant_id = :t AND #s = :before "
                "AND attribute_type(retry_event, :string)",
                ExpressionAttributeNames={"#s": "status", "#u": "updated_at", "#seq": "event_seq"},
                ExpressionAttributeValues=values(
                    after=after.value,
                    before=before.value,
                    u=now.isoformat(),
                    stage="retry",
                    zero=0,
                    one=1,
                    t=tenant_id,
                    string="S",
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            raise ConflictError(f"job {job_id} is not a failed job that can be retried") from None
        job = Job.model_validate(item)
        await self._put_event(
            job, job.event_seq, TimelineEvent.JOB_RETRIED, message, {}, stage="retry"
        )
        return job

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
                c=call.cost_micros, empty=[], call=[call.model_dump(mode="json")]
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
        items = await self.events.query(
            KeyConditionExpression="job_id = :j AND seq > :s",
            ExpressionAttributeValues=values(j=job_id, s=after_seq),
        )
        return [JobEvent.model_validate(i) for i in items]
