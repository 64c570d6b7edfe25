import asyncio
from collections.abc import Awaitable, Callable

import pytest

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.idempotency import (
    AlreadyInProgress,
    ClaimOutcome,
    IdempotencyStore,
    now_ms,
)
from leadmagnet.common.resources import Resources

pytestmark = pytest.mark.integration


class Holder:
    def __init__(self, lease_ms: int) -> None:
        self.lease_deadline_ms = now_ms() + lease_ms
        self.listeners: list[Callable[[int], Awaitable[None]]] = []

    def on_lease_extended(self, callback: Callable[[int], Awaitable[None]]) -> None:
        self.listeners.append(callback)


@pytest.fixture
def store(aws: AwsClients) -> IdempotencyStore:
    return IdempotencyStore(aws, Resources(aws).table("idempotency"))


def key(name: str) -> str:
    return f"test#{name}#{now_ms()}"


async def test_claim_complete_replay(store: IdempotencyStore) -> None:
    k = key("a")
    assert (await store.claim(k, now_ms() + 60_000)).outcome is ClaimOutcome.CLAIMED
    second = await store.claim(k, now_ms() + 60_000)
    assert second.outcome is ClaimOutcome.IN_PROGRESS
    assert second.lease_expires_ms is not None
    await store.complete(k, {"artifact_id": "art_1"})
    replay = await store.claim(k, now_ms() + 60_000)
    assert replay.outcome is ClaimOutcome.COMPLETED
    assert replay.result == {"artifact_id": "art_1"}


async def test_expired_lease_can_be_claimed_again(store: IdempotencyStore) -> None:
    k = key("b")
    assert (await store.claim(k, now_ms() - 1)).outcome is ClaimOutcome.CLAIMED
    assert (await store.claim(k, now_ms() + 60_000)).outcome is ClaimOutcome.CLAIMED


async def test_extend_keeps_the_lease(store: IdempotencyStore) -> None:
    k = key("c")
    await store.claim(k, now_ms() + 50)
    await store.extend(k, now_ms() + 60_000)
    await asyncio.sleep(0.1)
    assert (await store.claim(k, now_ms() + 60_000)).outcome is ClaimOutcome.IN_PROGRESS


async def test_run_once_runs_work_once_and_replays_the_result(store: IdempotencyStore) -> None:
    k = key("d")
    calls = 0

    async def work() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"n": calls}

    assert await store.run_once(k, Holder(60_000), work) == ({"n": 1}, False)
    assert await store.run_once(k, Holder(60_000), work) == ({"n": 1}, True)
    assert calls == 1


async def test_failed_work_releases_the_claim(store: IdempotencyStore) -> None:
    k = key("e")

    async def boom() -> dict[str, int]:
        raise RuntimeError("transient")

    with pytest.raises(RuntimeError):
        await store.run_once(k, Holder(60_000), boom)

    async def ok() -> dict[str, int]:
        return {"ok": 1}

    assert await store.run_once(k, Holder(60_000), ok) == ({"ok": 1}, False)


async def test_concurrent_claims_admit_exactly_one(store: IdempotencyStore) -> None:
    k = key("f")
    started = 0

    async def work() -> dict[str, int]:
        nonlocal started
        started += 1
        await asyncio.sleep(0.3)
        return {"done": 1}

    async def attempt() -> str:
        try:
            _, replayed = await store.run_once(k, Holder(60_000), work)
            return "replayed" if replayed else "ran"
        except AlreadyInProgress:
            return "busy"

    outcomes = await asyncio.gather(*(attempt() for _ in range(12)))
    assert outcomes.count("ran") == 1
    assert started == 1
    assert set(outcomes) <= {"ran", "busy", "replayed"}


async def test_heartbeat_listener_extends_the_record(store: IdempotencyStore) -> None:
    k = key("g")
    holder = Holder(100)

    async def work() -> dict[str, int]:
        for callback in holder.listeners:
            await callback(now_ms() + 60_000)
        await asyncio.sleep(0.3)  # past the original 100 ms lease
        assert (await store.claim(k, now_ms() + 1000)).outcome is ClaimOutcome.IN_PROGRESS
        return {}

    await store.run_once(k, holder, work)
