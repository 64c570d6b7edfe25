"""Files a stage run records on the job item (no artifacts-table write of their own), and the
form + workflow read of a submission: what they cost in calls, and that withdrawal, restore and
a form moved to another workflow still come out right. Real stores on the embedded endpoint."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from botocore.exceptions import ClientError

from leadmagnet.common.ids import new_job_id
from leadmagnet.common.jobflow import job_artifacts, registered_artifacts, withdraw_deliverables
from leadmagnet.common.models import Form, FormField, Job, Workflow
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.common.stores.artifacts import JobFile
from leadmagnet.common.stores.jobs import JobChange


@pytest.fixture
async def platform(bootstrapped: Settings) -> AsyncIterator[Platform]:
    async with Platform.open(bootstrapped, "tests") as p:
        yield p


def counted(platform: Platform, before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    now = Counter(platform.aws.call_counts)
    now.subtract(before)
    return Counter({k: v for k, v in now.items() if v})


async def job_with_a_registered_file(platform: Platform) -> Job:
    """A job whose one file is in S3 and recorded only on the job item (a stage run's way)."""
    job = Job(job_id=new_job_id(), tenant_id="ten_files")
    await platform.jobs.create(job)
    stored = await platform.artifacts.store(
        job.tenant_id,
        job.job_id,
        JobFile("report_markdown", "report.md", b"# report", "text/markdown"),
    )
    change = JobChange()
    change.charge(artifacts=[stored])
    await platform.jobs.write(job.job_id, change)
    return await platform.jobs.require(job.job_id)


async def readable(platform: Platform, key: str) -> bool:
    try:
        await platform.artifacts.read(key)
    except ClientError:
        return False
    return True


async def test_a_registered_file_is_listed_withdrawn_once_and_restored(platform: Platform) -> None:
    job = await job_with_a_registered_file(platform)
    [listed] = await job_artifacts(platform, job)
    assert listed.kind == "report_markdown"
    assert await readable(platform, listed.s3_key)

    await withdraw_deliverables(platform, job.job_id)
    await withdraw_deliverables(platform, job.job_id)  # a second pass deletes nothing more
    assert await job_artifacts(platform, job) == []
    assert not await readable(platform, listed.s3_key)

    assert await platform.artifacts.restore_for_job(job.job_id) == 1
    assert [a.artifact_id for a in await job_artifacts(platform, job)] == [listed.artifact_id]
    assert await platform.artifacts.read(listed.s3_key) == b"# report"


async def test_two_withdrawals_racing_are_both_undone_by_a_restore(platform: Platform) -> None:
    """Both passes may delete the file (two delete markers): the record keeps both."""
    job = await job_with_a_registered_file(platform)
    [listed] = await job_artifacts(platform, job)
    registered = registered_artifacts(job)
    await asyncio.gather(
        platform.artifacts.withdraw_for_job(job.job_id, registered),
        platform.artifacts.withdraw_for_job(job.job_id, registered),
    )
    assert not await readable(platform, listed.s3_key)
    assert await platform.artifacts.restore_for_job(job.job_id) == 1
    assert await platform.artifacts.read(listed.s3_key) == b"# report"


async def test_registered_files_are_deduplicated_by_id(platform: Platform) -> None:
    job = await job_with_a_registered_file(platform)
    twice = job.model_copy(update={"artifact_refs": job.artifact_refs * 2})
    assert len(registered_artifacts(twice)) == 1


def form_of(slug: str, tenant_id: str, workflow_id: str) -> Form:
    field = FormField(name="email", label="Email", type="email", required=True)
    return Form(slug=slug, tenant_id=tenant_id, workflow_id=workflow_id, name="F", fields=[field])


async def test_a_form_and_its_workflow_in_one_read_once_seen(platform: Platform) -> None:
    tenant = f"ten_{secrets.token_hex(4)}"
    first = await platform.workflows.put(Workflow(workflow_id="wf_a", tenant_id=tenant, name="A"))
    other = await platform.workflows.put(Workflow(workflow_id="wf_b", tenant_id=tenant, name="B"))
    slug = f"form-{secrets.token_hex(4)}"
    await platform.forms.create(form_of(slug, tenant, first.workflow_id))

    before = Counter(platform.aws.call_counts)
    form, workflow, _ = await platform.forms.with_workflow(slug, platform.workflows)
    assert form is not None
    assert workflow is not None
    assert workflow.workflow_id == "wf_a"
    assert counted(platform, before) == {("dynamodb", "GetItem"): 2}

    before = Counter(platform.aws.call_counts)
    form, workflow, _ = await platform.forms.with_workflow(slug, platform.workflows)
    assert workflow is not None
    assert workflow.workflow_id == "wf_a"
    assert counted(platform, before) == {("dynamodb", "BatchGetItem"): 1}

    # The form now starts another workflow: the remembered one is read along, then the right one.
    await platform.forms.replace(form_of(slug, tenant, other.workflow_id))
    form, workflow, _ = await platform.forms.with_workflow(slug, platform.workflows)
    assert form is not None
    assert form.workflow_id == "wf_b"
    assert workflow is not None
    assert workflow.workflow_id == "wf_b"

    # A workflow deleted since: the form is there, its workflow is not.
    await platform.workflows.table.delete({"tenant_id": tenant, "workflow_id": "wf_b"})
    form, workflow, _ = await platform.forms.with_workflow(slug, platform.workflows)
    assert form is not None
    assert workflow is None


async def test_an_unknown_form_reads_nothing_else(platform: Platform) -> None:
    form, workflow, _ = await platform.forms.with_workflow("no-such-form-here", platform.workflows)
    assert (form, workflow) == (None, None)
