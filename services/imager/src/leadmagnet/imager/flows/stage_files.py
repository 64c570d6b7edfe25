"""What an imager stage's work writes about its job, the stage runtime's way: each file stored
at once, and the job's side — the file's record, an image's cost — written with the run's result
(one UpdateItem for the whole work instead of one per file and per image). Outside a run the
records go with the work's batch (``ArtifactStore.batch``: one BatchWriteItem)."""

from __future__ import annotations

from typing import Any

from leadmagnet.common.models import Artifact
from leadmagnet.common.providers.base import CallCost
from leadmagnet.common.stages import StageCall
from leadmagnet.common.stores.artifacts import ArtifactBatch, JobFile


async def charge(call: StageCall[Any], cost: CallCost) -> None:
    """An image call's cost on the job (with the run's result while the work runs)."""
    if call.charges is not None:
        call.charges.costs.append(cost)
    else:
        await call.platform.jobs.add_cost(call.job.job_id, cost)


async def put_file(
    call: StageCall[Any],
    batch: ArtifactBatch,
    *,
    kind: str,
    key: str,
    body: bytes,
    content_type: str,
    public: bool = True,
) -> Artifact:
    """Store a file of the job and record it: on the job item with the run's result, or (outside
    a run) with ``batch`` and the job's list of artifact ids."""
    file = JobFile(kind, key.rsplit("/", 1)[-1], body, content_type, public=public, key=key)
    artifact = await batch.put(
        call.job.tenant_id, call.job.job_id, file, record=call.charges is None
    )
    if call.charges is not None:
        call.charges.artifacts.append(artifact)
    else:
        await call.platform.jobs.add_artifact(call.job.job_id, artifact.artifact_id)
    return artifact
