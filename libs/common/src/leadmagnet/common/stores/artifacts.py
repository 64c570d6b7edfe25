"""Artifacts: bytes in S3, records in DynamoDB.

A stage run records its files on the job item with its result (``Job.artifact_refs``: no write
of its own); this table (pk job_id, sk artifact_id) holds the records of files stored outside a
run, and of every withdrawn file with the delete marker that undoes its withdrawal.

Keys: ``{tenant_id}/jobs/{job_id}/{filename}`` unless a flow's layout says otherwise. Artifact
ids are derived from (job, key), so a redone stage overwrites its artifact instead of adding a
second one. URLs: ``PUBLIC_BASE_URL + key`` when a CDN is configured, else a presigned GET.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..dynamo import DynamoTable, batch_put, values
from ..errors import PermanentError
from ..ids import stable_id
from ..models import Artifact, utcnow
from ..settings import Settings

Item = dict[str, Any]


def artifact_key(tenant_id: str, job_id: str, filename: str) -> str:
    return f"{tenant_id}/jobs/{job_id}/{filename}"


@dataclass(frozen=True)
class JobFile:
    """A deliverable to store for a job: what it is, and its key when its flow has a layout of
    its own (else ``artifact_key``)."""

    kind: str
    filename: str
    body: bytes
    content_type: str
    public: bool = False
    key: str | None = None


class ArtifactStore:
    def __init__(self, aws: AwsClients, settings: Settings, table: str, bucket: str) -> None:
        self.s3 = aws.s3
        self.settings = settings
        self.table = DynamoTable(aws, table)
        self.bucket = bucket

    async def put(self, tenant_id: str, job_id: str, file: JobFile) -> Artifact:
        """Store the file and record it in this table."""
        artifact = await self.store(tenant_id, job_id, file)
        await self.record(artifact)
        return artifact

    async def record(self, artifact: Artifact) -> None:
        """The record of a file already stored (``store``), in this table."""
        await self.table.put(artifact.model_dump(mode="json"))

    async def store(self, tenant_id: str, job_id: str, file: JobFile) -> Artifact:
        """The file in S3 only: its record is the caller's to write (``record_many``, or the
        job item's), e.g. with the other files of the same work in one write."""
        key = file.key or artifact_key(tenant_id, job_id, file.filename)
        await self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=file.body,
            ContentType=file.content_type,
            Metadata={"job-id": job_id, "tenant-id": tenant_id, "kind": file.kind},
        )
        return Artifact(
            artifact_id=stable_id("art", job_id, key),
            job_id=job_id,
            tenant_id=tenant_id,
            kind=file.kind,
            s3_key=key,
            filename=file.filename,
            content_type=file.content_type,
            size_bytes=len(file.body),
            public=file.public,
            created_at=utcnow(),
        )

    async def record_many(self, artifacts: Sequence[Artifact]) -> None:
        """The records of files already stored (``store``): BatchWriteItem, 25 a call."""
        for i in range(0, len(artifacts), 25):
            await batch_put(
                self.table.client,
                [(self.table.name, a.model_dump(mode="json")) for a in artifacts[i : i + 25]],
            )

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[ArtifactBatch]:
        """Files of one piece of work: each stored at once, their records written together
        when the block ends, whether it succeeded or not (a failed job's withdrawal lists
        them): one BatchWriteItem instead of a PutItem per file."""
        batch = ArtifactBatch(self)
        try:
            yield batch
        finally:
            await batch.flush()

    async def put_object(self, key: str, body: bytes, content_type: str) -> None:
        """Plain file without an artifact record (logs, result files)."""
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    async def read(self, key: str) -> bytes:
        resp = await self.s3.get_object(Bucket=self.bucket, Key=key)
        async with resp["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def list_for_job(
        self, job_id: str, registered: Sequence[Artifact] = ()
    ) -> list[Artifact]:
        """The job's files, withdrawn ones left out (see ``withdraw_for_job``): those recorded
        here, and ``registered``, the records the stage runtime keeps on the job item itself
        (``Job.artifact_refs``: a stage's files are recorded there with its result, not here)."""
        live, withdrawn = await self._records(job_id)
        for artifact in registered:
            if artifact.artifact_id not in withdrawn:
                live.setdefault(artifact.artifact_id, artifact)
        return list(live.values())

    async def _records(self, job_id: str) -> tuple[dict[str, Artifact], dict[str, Item]]:
        """This table's records of the job: the live ones, and the withdrawn ones as stored
        (with their delete markers), each by artifact id."""
        items = await self.table.query(
            KeyConditionExpression="job_id = :j", ExpressionAttributeValues=values(j=job_id)
        )
        withdrawn = {i["artifact_id"]: i for i in items if "withdrawn_at" in i}
        live = {
            i["artifact_id"]: Artifact.model_validate(i)
            for i in items
            if i["artifact_id"] not in withdrawn
        }
        return live, withdrawn

    async def restore_for_job(self, job_id: str) -> int:
        """Undo ``withdraw_for_job`` (a retried job goes on from what its finished stages
        stored): delete the delete markers the withdrawal left, check each object is back, and
        list the records again. PermanentError when one cannot come back (written to a bucket
        without versioning, or its old version has expired); what came back before stays, so
        the caller withdraws again. Idempotent; returns how many came back."""
        _, withdrawn = await self._records(job_id)
        for item in withdrawn.values():
            key = item["s3_key"]
            markers = sorted(item.get("withdrawn_markers") or ())
            if not markers:
                raise PermanentError(f"{key} was deleted for good", code="artifacts_gone")
            for marker in markers:
                try:
                    await self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=marker)
                except ClientError as e:  # already removed by an earlier restore
                    if e.response.get("Error", {}).get("Code") not in ("NoSuchVersion", "404"):
                        raise
            try:
                await self.s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError:
                raise PermanentError(
                    f"{key} can no longer be restored (its old version expired)",
                    code="artifacts_gone",
                ) from None
            await self.table.update(
                {"job_id": job_id, "artifact_id": item["artifact_id"]},
                UpdateExpression="REMOVE withdrawn_at, withdrawn_markers",
            )
        return len(withdrawn)

    async def withdraw_for_job(self, job_id: str, registered: Sequence[Artifact] = ()) -> int:
        """Delete a job's files (``list_for_job``, with those ``registered`` on the job item):
        a failed or cancelled job has no deliverables.

        The bucket is versioned, so the delete leaves a delete marker: a GET of the key (every
        link we mint, presigned or CDN) answers 404 from then on. The file's record is written
        here, marked withdrawn with the marker's version (``list_for_job`` no longer lists it),
        so that a retry can bring the file back (``restore_for_job``). Idempotent (a withdrawn
        file is not deleted twice: its marker stays the one to undo); returns how many files
        were withdrawn.
        """
        withdrawn = 0
        for a in await self.list_for_job(job_id, registered):
            resp = await self.s3.delete_object(Bucket=self.bucket, Key=a.s3_key)
            marker = resp.get("VersionId") if resp.get("DeleteMarker") else None
            # The whole record (a file registered on the job item has none here yet), and the
            # marker ADDed: two passes racing each leave theirs, and a restore undoes both.
            record = a.model_dump(mode="json") | {"withdrawn_at": utcnow().isoformat()}
            record.pop("job_id")
            record.pop("artifact_id")
            names = {f"#a{i}": name for i, name in enumerate(record)}
            vals = {f"a{i}": value for i, value in enumerate(record.values())}
            update = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(record)))
            if marker:
                update += " ADD withdrawn_markers :m"
                vals["m"] = {marker}
            await self.table.update(
                {"job_id": job_id, "artifact_id": a.artifact_id},
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(**vals),
            )
            withdrawn += 1
        return withdrawn

    async def url(self, key: str, *, filename: str | None = None) -> str:
        """A GET URL; with ``filename`` a presigned one asks the browser to download it."""
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/") + "/" + key
        params = {"Bucket": self.bucket, "Key": key}
        if filename:
            safe = "".join(c for c in filename if c.isalnum() or c in "._-")[:100] or "download"
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        url: str = await self.s3.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.settings.artifact_url_ttl_seconds
        )
        return url


class ArtifactBatch:
    """Files stored now whose records are written together (``ArtifactStore.batch``)."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.pending: list[Artifact] = []

    async def put(
        self, tenant_id: str, job_id: str, file: JobFile, *, record: bool = True
    ) -> Artifact:
        """Store the file now; its record is written with the batch's, unless ``record`` is
        False (the stage runtime records it on the job item with the run's result)."""
        artifact = await self.store.store(tenant_id, job_id, file)
        if record:
            self.pending.append(artifact)
        return artifact

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            await self.store.record_many(pending)
