"""Concurrent identical reads share one call; its answer or error reaches every caller, a
cancelled caller does not cancel it for the others, and a later call reads again."""

from __future__ import annotations

import asyncio

import pytest

from leadmagnet.common.singleflight import SingleFlight


class Reader:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"answer {self.calls}"


async def test_concurrent_callers_share_one_read_and_a_later_call_reads_again() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    callers = [asyncio.ensure_future(flights.run("k", reader)) for _ in range(5)]
    other = asyncio.ensure_future(flights.run("other key", reader))
    await asyncio.sleep(0)
    reader.release.set()
    assert await asyncio.gather(*callers) == ["answer 1"] * 5
    assert await other == "answer 2"
    assert reader.calls == 2
    assert await flights.run("k", reader) == "answer 3"


async def test_an_error_reaches_every_caller_and_is_not_kept() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    reader.fail = RuntimeError("throttled")
    callers = [asyncio.ensure_future(flights.run("k", reader)) for _ in range(3)]
    await asyncio.sleep(0)
    reader.release.set()
    for caller in callers:
        with pytest.raises(RuntimeError, match="throttled"):
            await caller
    assert reader.calls == 1
    reader.fail = None
    assert await flights.run("k", reader) == "answer 2"


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    reader = Reader()
    first = asyncio.ensure_future(flights.run("k", reader))
    second = asyncio.ensure_future(flights.run("k", reader))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    reader.release.set()
    assert await second == "answer 1"
    assert reader.calls == 1
