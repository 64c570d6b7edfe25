"""The operator's command line against the running system: ``leadmagnet dlq list|show|redrive|
purge`` and ``leadmagnet jobs show``, run as the README says (a process of the project's
environment), against the embedded AWS endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.events import message_attributes
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.ids import new_job_id, random_id
from leadmagnet.common.models import Job, Submission
from leadmagnet.common.platform import Platform

pytestmark = pytest.mark.integration


def cli(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RESOURCE_PREFIX": platform.settings.resource_prefix,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def eventually(check: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.3)


async def pending_job(platform: Platform, demo: Demo) -> Job:
    """A job whose job.requested was lost to the DLQ (its submission and job exist)."""
    job_id = new_job_id()
    submission = Submission(
        submission_id=random_id("sub"),
        tenant_id=demo.tenant_id,
        form_slug=demo.slug,
        workflow_id=demo.workflow_id,
        job_id=job_id,
        fields={"name": "Ada", "email": "ada@example.com", "goal": "redrive me"},
    )
    await platform.submissions.put(submission)
    job = Job(
        job_id=job_id,
        tenant_id=demo.tenant_id,
        workflow_id=demo.workflow_id,
        submission_id=submission.submission_id,
        form_slug=demo.slug,
    )
    return await platform.jobs.create(job)


async def test_dlq_list_show_redrive_purge_and_job_timeline(
    stack: ServiceStack, platform: Platform, demo: Demo
) -> None:
    sqs = platform.aws.sqs
    letters = platform.dead_letters
    assert cli(platform, "dlq", "purge", "--queue", "reporter", "--yes").returncode == 0

    # A poison message: the reporter dead-letters it at once, with its reason.
    queue_url = await platform.resources.queue_url("reporter")
    await sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")

    async def poisoned() -> bool:
        return await letters.count("reporter") >= 1

    await eventually(poisoned)

    # A good event lost earlier (as if dead-lettered before a fix was deployed).
    job = await pending_job(platform, demo)
    event = platform.bus.event(
        JobRequested(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            workflow_id=job.workflow_id,
            submission_id=job.submission_id,
        ),
        subject=job.job_id,
        tenant_id=job.tenant_id,
    )
    attrs = message_attributes(event)
    attrs["dlq_reason"] = {"DataType": "String", "StringValue": "gave up after 5 attempts: 503"}
    dlq_url = await platform.resources.queue_url("reporter", dlq=True)
    await sqs.send_message(
        QueueUrl=dlq_url, MessageBody=event.model_dump_json(), MessageAttributes=attrs
    )

    listed = cli(platform, "dlq", "list", "--queue", "reporter", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 2
    poison = next(r for r in rows if not r["decoded"])
    assert "not valid JSON" in poison["reason"] or "JSON" in poison["reason"], poison
    good = next(r for r in rows if r["decoded"])
    assert good["type"] == "io.leadmagnet.job.requested"
    assert good["subject"] == job.job_id
    assert good["reason"] == "gave up after 5 attempts: 503"
    human = cli(platform, "dlq", "list", "--queue", "reporter")
    assert "2 message(s) in reporter's DLQ" in human.stdout

    shown = cli(platform, "dlq", "show", "--queue", "reporter", good["message_id"])
    assert shown.returncode == 0, shown.stderr
    assert f'"subject": "{job.job_id}"' in shown.stdout
    assert cli(platform, "dlq", "show", "--queue", "reporter", "nope").returncode == 1
    assert await letters.count("reporter") == 2  # looking consumed nothing

    redrive = cli(platform, "dlq", "redrive", "--queue", "reporter")
    assert redrive.returncode == 0, redrive.stderr
    assert "redrive of reporter: 2 message(s)" in redrive.stdout

    async def completed() -> bool:
        current = await platform.jobs.get(job.job_id)
        return current is not None and current.status.value == "completed"

    await eventually(completed, within=60)

    async def only_poison_left() -> bool:
        found = await letters.peek("reporter")
        return [d.envelope is None for d in found] == [True]

    await eventually(only_poison_left)  # the poison went straight back

    timeline = cli(platform, "jobs", "show", job.job_id)
    assert timeline.returncode == 0, timeline.stderr
    assert "report.generated" in timeline.stdout
    assert "job.completed" in timeline.stdout
    assert "cost: $" in timeline.stdout

    refused = cli(platform, "dlq", "purge", "--queue", "reporter")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    purged = cli(platform, "dlq", "purge", "--queue", "reporter", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert await letters.count("reporter") == 0

    unknown = cli(platform, "dlq", "list", "--queue", "nope")
    assert unknown.returncode == 2
    assert "reporter" in unknown.stderr
