"""Result and log files for every finished job (seed 004), in the artifacts bucket, under the
job's tenant (a tenant-scoped IAM or lifecycle rule is one prefix):

- ``{tenant_id}/outputs/{job_id}/result.json``  on success: status, output, artifacts, cost;
- ``{tenant_id}/logs/{job_id}/execution.log``   always (cancelled jobs get only this): the job's
  timeline, one line per event;
- ``{tenant_id}/logs/{job_id}/error.json``      on failure: code, message, stage.

Written by the notifier when ``job.completed`` / ``job.failed`` arrives; rewriting them on a
redelivery produces the same content, so the step is naturally idempotent. The job records the
files after the puts succeeded, and views link only recorded files (``visible_files``; files
recorded under the old root-level keys, before the tenant prefix, stay visible). Timestamps in
the JSON files are ISO 8601 (``2026-11-29T09:55:59.361407+00:00``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from leadmagnet.common.jobflow import completed_artifacts, registered_artifacts
from leadmagnet.common.models import Job, JobEvent, JobStatus

if TYPE_CHECKING:  # platform.py imports this module
    from leadmagnet.common.platform import Platform


def result_key(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/outputs/{job_id}/result.json"


def log_key(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/logs/{job_id}/execution.log"


def error_key(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/logs/{job_id}/error.json"


def _legacy_keys(job: Job) -> dict[str, str]:
    """Where jobs finished before the tenant prefix recorded their files."""
    return {
        "result": f"outputs/{job.job_id}/result.json",
        "log": f"logs/{job.job_id}/execution.log",
        "error": f"logs/{job.job_id}/error.json",
    }


def file_keys(job: Job) -> dict[str, str]:
    """The files a finished job gets (none while it runs)."""
    t, j = job.tenant_id, job.job_id
    if job.status is JobStatus.COMPLETED:
        return {"result": result_key(t, j), "log": log_key(t, j)}
    if job.status is JobStatus.FAILED:
        return {"error": error_key(t, j), "log": log_key(t, j)}
    if job.status is JobStatus.CANCELLED:
        return {"log": log_key(t, j)}
    return {}


def visible_files(job: Job) -> dict[str, str]:
    """The files a view may link: those of the job's state that were recorded as written (the
    notifier writes them a moment after the job finishes; a link must not run ahead)."""
    legacy = _legacy_keys(job)
    return {
        name: job.files[name]
        for name, key in file_keys(job).items()
        if job.files.get(name) in (key, legacy[name])
    }


def execution_log(job: Job, events: list[JobEvent]) -> str:
    lines = [f"job {job.job_id} ({job.kind}) tenant {job.tenant_id}: {job.status.value}"]
    for e in events:
        status = f" [{e.status.value}]" if e.status else ""
        stage = f" {e.stage}" if e.stage else ""
        lines.append(f"{e.at.isoformat()} #{e.seq} {e.type}{stage}{status} {e.message}".rstrip())
    return "\n".join(lines) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()  # 'T', not str()'s space
    return str(value)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=_json_default).encode()


async def write_job_files(platform: Platform, job: Job) -> dict[str, str]:
    events = await platform.jobs.timeline_of(job)  # the job as the stage read it: no re-read
    t, j = job.tenant_id, job.job_id
    await platform.artifacts.put_object(
        log_key(t, j), execution_log(job, events).encode(), "text/plain; charset=utf-8"
    )
    if job.status is JobStatus.COMPLETED:
        artifacts = await completed_artifacts(platform, job)
        result = {
            "job_id": job.job_id,
            "tenant_id": job.tenant_id,
            "kind": job.kind,
            "status": job.status.value,
            "output_key": job.output_key,
            "artifacts": [
                {"artifact_id": a.artifact_id, "kind": a.kind, "s3_key": a.s3_key}
                for a in sorted(artifacts, key=lambda a: a.kind)
            ],
            "cost_micros": job.cost_micros,
            "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        }
        await platform.artifacts.put_object(result_key(t, j), _dumps(result), "application/json")
    if job.status is JobStatus.CANCELLED:  # as for a failure: the second withdrawal pass
        await platform.artifacts.withdraw_for_job(job.job_id, registered_artifacts(job))
    if job.status is JobStatus.FAILED:
        # Second pass of the failed-job rule (see jobflow.withdraw_deliverables): a parallel
        # branch may have written an artifact after the job failed.
        await platform.artifacts.withdraw_for_job(job.job_id, registered_artifacts(job))
        error = {
            "job_id": job.job_id,
            "error_code": job.error_code,
            "error_message": job.error_message,
            "stage": job.stage,
            "failed_at": job.failed_at.isoformat() if job.failed_at else None,
        }
        await platform.artifacts.put_object(error_key(t, j), _dumps(error), "application/json")
    written = file_keys(job)
    if job.files != written:  # a redelivery finds them recorded
        await platform.jobs.record_files(job.job_id, written)  # only now may views link them
    return written
