"""A lead-magnet job renders with the template version published when it was submitted: the
gateway reads it with the form and its workflow (one BatchGetItem once it has seen the form),
and the renderer keeps published versions (they never change), so rendering reads no template."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

from leadmagnet.cli.demo import seed_demo
from leadmagnet.common.models import Workflow
from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.documents import pointer_key
from leadmagnet.gateway.routes.public import accept_submission

FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "more leads"}


def counted(platform: Platform, before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    now = Counter(platform.aws.call_counts)
    now.subtract(before)
    return Counter({k: v for k, v in now.items() if v})


async def pointed(platform: Platform, tenant_id: str, doc_id: str) -> int | None:
    item = await platform.templates.table.get(pointer_key(tenant_id, doc_id))
    return int(item["version"]) if item else None


async def test_publishing_moves_the_pointer_forward_only(platform: Platform) -> None:
    tenant, doc = f"ten_{secrets.token_hex(4)}", f"tpl_{secrets.token_hex(4)}"
    templates = platform.templates
    await templates.create_version(tenant, doc, {"html": "<p>1</p>"}, publish=True)
    assert await pointed(platform, tenant, doc) == 1
    await templates.create_version(tenant, doc, {"html": "<p>2</p>"})  # a draft
    assert await pointed(platform, tenant, doc) == 1
    await templates.publish(tenant, doc, 2)
    assert await pointed(platform, tenant, doc) == 2
    await templates.publish(tenant, doc, 1)  # publishing an older one again
    assert await pointed(platform, tenant, doc) == 2
    # the pointer is not a version: listings skip it
    assert [d.version for d in await templates.versions(tenant, doc)] == [2, 1]
    assert [d.version for d in await templates.list_latest(tenant)] == [2]
    # another tenant's document of the same id has its own pointer
    await templates.create_version(f"{tenant}x", doc, {"html": "<p>x</p>"}, publish=True)
    assert await pointed(platform, f"{tenant}x", doc) == 1
    assert await pointed(platform, tenant, doc) == 2


async def test_published_versions_are_kept_by_the_process_and_drafts_are_read(
    platform: Platform,
) -> None:
    tenant, doc = f"ten_{secrets.token_hex(4)}", f"tpl_{secrets.token_hex(4)}"
    templates = platform.templates
    await templates.create_version(tenant, doc, {"html": "<p>1</p>"}, publish=True)
    await templates.create_version(tenant, doc, {"html": "<p>2</p>"})
    before = Counter(platform.aws.call_counts)
    for _ in range(3):
        assert (await templates.resolve(tenant, doc, 1)).body == {"html": "<p>1</p>"}
        assert (await templates.resolve(tenant, doc, 2)).status == "draft"
    assert counted(platform, before) == {("dynamodb", "GetItem"): 4}  # v1 once, the draft 3x
    # concurrent first reads of a version share one call
    await templates.create_version(tenant, doc, {"html": "<p>3</p>"}, publish=True)
    before = Counter(platform.aws.call_counts)
    read = await asyncio.gather(*(templates.resolve(tenant, doc, 3) for _ in range(5)))
    assert {version.version for version in read} == {3}
    assert counted(platform, before) == {("dynamodb", "GetItem"): 1}


async def test_a_job_is_pinned_to_the_version_published_when_it_was_submitted(
    platform: Platform,
) -> None:
    demo = await seed_demo(platform, slug=f"pin-{secrets.token_hex(4)}")
    published = await platform.templates.latest_published(demo.tenant_id, demo.template_id)
    assert published is not None

    # The process's first read of the form: a read each of the form, workflow and pointer,
    # shared by concurrent first submits.
    before = Counter(platform.aws.call_counts)
    starts = await asyncio.gather(
        *(
            platform.forms.with_workflow(demo.slug, platform.workflows, platform.templates)
            for _ in range(5)
        )
    )
    assert counted(platform, before) == {("dynamodb", "GetItem"): 3}
    assert {start.template_version for start in starts} == {published.version}
    first = await accept_submission(platform, demo.slug, FIELDS)  # and the tenant's limits
    job = await platform.jobs.get(first.job_id)
    assert job is not None
    assert job.data["template_version"] == published.version

    before = Counter(platform.aws.call_counts)
    second = await accept_submission(platform, demo.slug, FIELDS)
    reads = counted(platform, before)
    assert reads[("dynamodb", "BatchGetItem")] == 1
    assert ("dynamodb", "GetItem") not in reads
    pinned = await platform.jobs.get(second.job_id)
    assert pinned is not None
    assert pinned.data["template_version"] == published.version

    newer = await platform.templates.create_version(
        demo.tenant_id, demo.template_id, {"html": "<p>{{REPORT_CONTENT}}</p>"}, publish=True
    )
    third = await accept_submission(platform, demo.slug, FIELDS)
    later = await platform.jobs.get(third.job_id)
    assert later is not None
    assert later.data["template_version"] == newer.version
    again = await platform.jobs.get(second.job_id)
    assert again is not None
    assert again.data["template_version"] == published.version  # submitted before: kept

    # A workflow that pins a version itself: its jobs carry none of their own.
    workflow = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert workflow is not None
    await platform.workflows.put(workflow.model_copy(update={"template_version": 1}))
    await accept_submission(platform, demo.slug, FIELDS)  # re-reads what the workflow renders
    fourth = await accept_submission(platform, demo.slug, FIELDS)
    unpinned = await platform.jobs.get(fourth.job_id)
    assert unpinned is not None
    assert "template_version" not in unpinned.data


async def test_a_workflow_switched_to_another_template_gets_no_stale_version(
    platform: Platform,
) -> None:
    demo = await seed_demo(platform, slug=f"pin-{secrets.token_hex(4)}")
    other = f"tpl_{secrets.token_hex(4)}"
    for html in ("<p>a</p>", "<p>b</p>", "<p>c</p>"):
        await platform.templates.create_version(demo.tenant_id, other, {"html": html}, publish=True)
    await accept_submission(platform, demo.slug, FIELDS)  # the form and its template are known
    workflow = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert workflow is not None
    switched = Workflow.model_validate({**workflow.model_dump(), "template_id": other})
    await platform.workflows.put(switched)
    # Read with the old template's pointer: that version must not be taken for the new one.
    read = await accept_submission(platform, demo.slug, FIELDS)
    job = await platform.jobs.get(read.job_id)
    assert job is not None
    assert "template_version" not in job.data
    following = await accept_submission(platform, demo.slug, FIELDS)
    job = await platform.jobs.get(following.job_id)
    assert job is not None
    assert job.data["template_version"] == 3
