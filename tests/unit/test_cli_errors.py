"""The CLI's dispatcher turns AWS failures into one line on stderr and exit 1 (never a
traceback), and `dlq purge` inside SQS's 60-second PurgeQueue window still empties the DLQ."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from leadmagnet.cli import main as cli


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            _client_error("AWS.SimpleQueueService.NonExistentQueue", "no queue", "GetQueueUrl"),
            "GetQueueUrl operation: no queue (is the topology of RESOURCE_PREFIX=",
        ),
        (
            _client_error("ThrottlingException", "slow down\nplease", "PutItem"),
            "An error occurred (ThrottlingException) when calling the PutItem operation: slow",
        ),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "Could not connect"),
        (NoCredentialsError(), "no credentials found"),
        (ExceptionGroup("tasks", [NoCredentialsError()]), "no credentials found"),
    ],
)
def test_aws_errors_become_one_line_and_exit_1(
    error: Exception, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    def fails(args: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(cli, "_jobs_show", fails)
    assert cli.main(["jobs", "show", "job_x"]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("leadmagnet jobs: AWS error: "), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in out.err


def test_other_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "_jobs_show", fails)
    with pytest.raises(RuntimeError):
        cli.main(["jobs", "show", "job_x"])


class FakeSqs:
    def __init__(self, messages: int) -> None:
        self.messages = [f"m{i}" for i in range(messages)]
        self.deleted: list[str] = []

    async def receive_message(self, **kw: Any) -> dict[str, Any]:
        batch, self.messages = self.messages[:10], self.messages[10:]
        return {"Messages": [{"ReceiptHandle": m} for m in batch]} if batch else {}

    async def delete_message_batch(self, **kw: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in kw["Entries"]]
        return {"Successful": [{"Id": e["Id"]} for e in kw["Entries"]]}


class FakeResources:
    async def queue_url(self, queue: str, *, dlq: bool = False) -> str:
        return f"https://sqs/{queue}{'-dlq' if dlq else ''}"


class FakeLetters:
    def __init__(self, sqs: FakeSqs) -> None:
        self.sqs = sqs
        self.resources = FakeResources()

    async def purge(self, queue: str) -> int:
        raise _client_error(
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            "Only one PurgeQueue operation on q is allowed every 60 seconds.",
            "PurgeQueue",
        )


def test_purge_in_progress_deletes_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    sqs = FakeSqs(23)

    class FakePlatform:
        dead_letters = FakeLetters(sqs)

    monkeypatch.setattr(cli, "_with_platform", lambda work: asyncio.run(work(FakePlatform())))
    assert cli.main(["dlq", "purge", "--queue", "reporter", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "already in progress" in out
    assert "deleted 23 message(s)" in out
    assert len(sqs.deleted) == 23
