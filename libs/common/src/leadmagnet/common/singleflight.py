"""Concurrent identical reads share one call: while a read of a key is in flight, other callers
of the same key await it instead of sending their own. A process's first jobs after it starts
all miss its caches at once (the benchmark's ten concurrent submits read the same form ten
times); this turns that burst into one read per key. Only for reads whose callers accept any
answer the in-flight one gives (immutable items, or reads that are eventually consistent
anyway)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SingleFlight(Generic[V]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[V]] = {}

    async def run(self, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        """``read()``'s answer, shared with every caller of ``key`` while it runs. A caller
        cancelled meanwhile does not cancel the read for the others."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)
