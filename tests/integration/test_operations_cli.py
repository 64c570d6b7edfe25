"""The operator's command line against the running system: ``leadmagnet dlq list|show|redrive|
purge`` and ``leadmagnet jobs show``, run as the README says (a process of the project's
environment), against the embedded AWS endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
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
    poison_body = f"{{not json {secrets.token_hex(4)}"
    await sqs.send_message(QueueUrl=queue_url, MessageBody=poison_body)

    async def poisoned() -> bool:
        return any(d.body == poison_body for d in await letters.peek("reporter", limit=100))

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

    # The reporter's DLQ is shared with the rest of the session: a message another test left
    # retrying may be dead-lettered at any moment, so the checks look at this test's letters.
    listed = cli(platform, "dlq", "list", "--queue", "reporter", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    poison = next(r for r in rows if not r["decoded"])
    assert "not valid JSON" in poison["reason"] or "JSON" in poison["reason"], poison
    good = next(r for r in rows if r["decoded"] and r["subject"] == job.job_id)
    assert good["type"] == "io.leadmagnet.job.requested"
    assert good["reason"] == "gave up after 5 attempts: 503"
    human = cli(platform, "dlq", "list", "--queue", "reporter")
    shown_count = int(human.stdout.split(" message(s) in reporter's DLQ")[0].split()[-1])
    assert shown_count >= 2, human.stdout
    assert good["message_id"] in human.stdout

    shown = cli(platform, "dlq", "show", "--queue", "reporter", good["message_id"])
    assert shown.returncode == 0, shown.stderr
    assert f'"subject": "{job.job_id}"' in shown.stdout
    assert cli(platform, "dlq", "show", "--queue", "reporter", "nope").returncode == 1
    assert await letters.count("reporter") >= len(rows)  # looking consumed nothing

    redrive = cli(platform, "dlq", "redrive", "--queue", "reporter")
    assert redrive.returncode == 0, redrive.stderr
    assert "redrive of reporter: " in redrive.stdout, redrive.stdout

    async def completed() -> bool:
        current = await platform.jobs.get(job.job_id)
        return current is not None and current.status.value == "completed"

    await eventually(completed, within=60)

    async def only_poison_left() -> bool:
        found = await letters.peek("reporter")
        ours = [d for d in found if (d.envelope or {}).get("subject") == job.job_id]
        return not ours and any(d.body == poison_body for d in found)

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
    assert all(d.body != poison_body for d in await letters.peek("reporter"))

    unknown = cli(platform, "dlq", "list", "--queue", "nope")
    assert unknown.returncode == 2
    assert "reporter" in unknown.stderr


async def test_dlq_purge_within_sqs_60_second_limit_still_empties_the_queue(
    platform: Platform,
) -> None:
    """SQS allows one PurgeQueue per queue every 60 s: a second `dlq purge` inside that window
    says so and deletes the messages batch by batch instead (exit 0, the queue ends empty).
    moto enforces the limit like SQS; LocalStack does not by default (then it simply purges).
    tests/unit/test_cli_errors.py covers the fallback against any endpoint."""
    letters = platform.dead_letters
    dlq_url = await platform.resources.queue_url("notifier", dlq=True)
    for i in range(3):
        await platform.aws.sqs.send_message(QueueUrl=dlq_url, MessageBody=f"first {i}")
    first = cli(platform, "dlq", "purge", "--queue", "notifier", "--yes")
    assert first.returncode == 0, first.stderr
    for i in range(12):  # more than one receive batch
        await platform.aws.sqs.send_message(QueueUrl=dlq_url, MessageBody=f"second {i}")
    second = cli(platform, "dlq", "purge", "--queue", "notifier", "--yes")
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    if "already in progress" in second.stdout:
        assert "deleted 12 message(s)" in second.stdout, second.stdout
    else:
        assert "purged 12 message(s)" in second.stdout, second.stdout
    assert await letters.count("notifier") == 0


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_reports_an_aws_api_error_in_one_line(platform: Platform) -> None:
    """A ClientError (here: the prefix's queues do not exist) is one line and exit 1."""
    env = {**os.environ, "RESOURCE_PREFIX": f"missing{os.urandom(3).hex()}"}
    proc = subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", "dlq", "list", "--queue", "reporter"],
        env={**env, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = _one_line_error(proc)
    assert line.startswith("leadmagnet dlq: AWS error:"), line
    assert "GetQueueUrl" in line
    assert "leadmagnet bootstrap" in line


def test_cli_reports_an_unreachable_endpoint_in_one_line(tmp_path: Any) -> None:
    from leadmagnet.testing.moto_server import free_port

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", "tenants", "create", "--name", "Nobody"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = _one_line_error(proc)
    assert line.startswith("leadmagnet tenants: AWS error: Could not connect"), line


async def test_tenants_create_with_only_a_local_endpoint_configured(
    platform: Platform, tmp_path: Any
) -> None:
    """No credentials anywhere (clean environment, empty HOME): a loopback endpoint gets the
    dummy credentials `make run` uses, so the command works as the README shows it."""
    endpoints = {k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")}
    assert endpoints, "the session's endpoint is exported by the aws_endpoint fixture"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "RESOURCE_PREFIX": platform.settings.resource_prefix,
        **endpoints,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", "tenants", "create", "--name", "Second"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
    tenant_id = fields["tenant_id"].strip()
    api_key = fields["api_key"].split()[0]
    tenant = await platform.tenants.get(tenant_id)
    assert tenant is not None
    assert tenant.name == "Second"
    assert await platform.tenants.authenticate(api_key) == tenant_id

    # ...and a second key for it, as the README shows.
    second = subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", "tenants", "key", tenant_id, "--label", "b"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    other_key = second.stdout.split(":", 1)[1].split()[0]
    assert other_key != api_key
    assert await platform.tenants.authenticate(other_key) == tenant_id
