"""The render boundary: tenant templates run in worker processes with a CPU, memory and output
budget, never on the event loop.

A template is tenant-authored code. Rendered in the consumer's process it would block the event
loop (every other job, heartbeats included) for as long as it likes. Here each render goes to an
idle worker process of a small pool; the worker caps its own CPU time (``RLIMIT_CPU``, reset per
job: the kernel kills it at the limit) and address space (``RLIMIT_AS``: a huge string fails with
MemoryError), and streams the output against a byte cap. The parent also keeps a wall-clock
deadline. A worker that overran is killed and replaced; the job fails permanently with code
``render_limit``. One hostile template therefore holds one worker for at most the limit, while
the other workers keep serving other tenants' jobs.

Workers are started by ``forkserver`` (not ``fork``: forking a process with an event loop and
SDK threads is unsafe) from a server that has preloaded the rendering module, so a replacement
starts in milliseconds.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import multiprocessing
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from multiprocessing.process import BaseProcess
from typing import Any

from leadmagnet.common.errors import LeadmagnetError, PermanentError, TransientError
from leadmagnet.common.rendering import RenderLimitError
from leadmagnet.common.settings import Settings

from .render_worker import RenderLimits, serve

__all__ = ["PRELOAD", "RenderLimits", "RenderPool", "pool_for", "render_pool"]

# The forkserver imports the worker's module (light: no SDK, no settings) and warms it, so a
# worker forks ready to render.
PRELOAD = ["leadmagnet.renderer.render_warm"]


class _Worker:
    def __init__(self, ctx: Any, limits: RenderLimits) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=serve, args=(child, limits), daemon=True, name="leadmagnet-render"
        )
        self.process.start()
        child.close()
        self.timed_out = False

    def call(self, request: tuple[Any, ...], wall_seconds: float) -> tuple[Any, ...] | None:
        """Blocking (runs on a pool thread): the answer, or None if the worker died or overran."""
        try:
            self.conn.send(request)
            if self.conn.poll(wall_seconds):
                answer: tuple[Any, ...] = self.conn.recv()
                return answer
            self.timed_out = True
        except (EOFError, OSError):
            pass
        return None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class RenderPool:
    """``await pool.render(template, report_md, fields, today)`` -> html, within the limits.

    Workers start on demand, up to ``workers`` at once, and one idle for ``idle_seconds`` exits
    (0: never): an idle renderer keeps only the forkserver, from which the next render forks a
    worker already warmed (``render_warm``). The most recently used worker is taken first, so
    under a light load the others age out."""

    def __init__(self, *, workers: int, limits: RenderLimits, idle_seconds: float = 0) -> None:
        self.size = workers
        self.limits = limits
        self.idle_seconds = idle_seconds
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if "forkserver" in methods:
            self._ctx.set_forkserver_preload(PRELOAD)
        # One thread per worker waits on its pipe; two more start and stop processes.
        self._threads = ThreadPoolExecutor(workers + 2, thread_name_prefix="render")
        self._idle: list[tuple[float, _Worker]] = []  # (idle since, worker); newest last
        self._all: set[_Worker] = set()
        self._starting = 0
        self._changed: asyncio.Condition | None = None  # made on the loop that renders
        self._reaper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def workers(self) -> int:
        """Worker processes alive now (busy or idle)."""
        return len(self._all)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.limits)
        self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()

    async def _checkout(self) -> _Worker:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            while not self._idle and len(self._all) + self._starting >= self.size:
                await self._changed.wait()
            if self._idle:
                return self._idle.pop()[1]
            self._starting += 1
        loop = asyncio.get_running_loop()
        started = loop.run_in_executor(self._threads, self._spawn)  # blocks briefly: off the loop
        try:
            return await asyncio.shield(started)  # a cancelled render must not orphan it
        except asyncio.CancelledError:
            # The process starts anyway: it joins the idle ones instead of holding a place.
            started.add_done_callback(
                lambda done: (
                    None
                    if done.cancelled() or done.exception()
                    else self._keep(loop.create_task(self._checkin(done.result())))
                )
            )
            raise
        finally:
            async with self._changed:
                self._starting -= 1
                self._changed.notify()  # a failed start frees the place it held

    async def _checkin(self, worker: _Worker | None) -> None:
        """Back to the idle ones (None: a worker was retired, its place is free)."""
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        async with self._changed:
            if worker is not None:
                self._idle.append((loop.time(), worker))
                self._schedule_reap(loop)
            self._changed.notify()

    def _schedule_reap(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.idle_seconds <= 0 or not self._idle or self._reaper is not None:
            return
        oldest = self._idle[0][0]
        self._reaper = loop.call_at(oldest + self.idle_seconds, self._reap_soon, loop)

    def _reap_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        self._reaper = None
        self._keep(loop.create_task(self._reap()))

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold a background task until it is done (the loop keeps only weak references)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self) -> None:
        """Retire the workers idle for ``idle_seconds``; look again when the next one is due."""
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        async with self._changed:
            due = loop.time() - self.idle_seconds
            lapsed = [worker for since, worker in self._idle if since <= due]
            self._idle = [(since, worker) for since, worker in self._idle if since > due]
            for worker in lapsed:
                self._all.discard(worker)
            self._schedule_reap(loop)
        for worker in lapsed:
            await loop.run_in_executor(self._threads, worker.kill)

    async def render(
        self, template_source: str, report_markdown: str, fields: dict[str, Any], today: date
    ) -> str:
        worker = await self._checkout()
        loop = asyncio.get_running_loop()
        request = (template_source, report_markdown, fields, today)
        answer: tuple[Any, ...] | None = None
        try:
            answer = await loop.run_in_executor(
                self._threads, worker.call, request, self.limits.wall_seconds
            )
        finally:
            # Reuse only a worker that answered within its limits; one that overran, died, hit
            # a limit (it exits after MemoryError) or was cancelled mid-render is replaced by
            # the next render that needs one.
            if answer is not None and answer[:2] != ("error", "render_limit"):
                await self._checkin(worker)
            else:
                await loop.run_in_executor(self._threads, self._retire, worker)
                await self._checkin(None)
        if answer is None:
            raise self._overrun(worker)
        if answer[0] == "ok":
            html: str = answer[1]
            return html
        _, code, message = answer
        if code == "render_limit":
            raise RenderLimitError(message)
        raise PermanentError(message, code=code)

    def _overrun(self, worker: _Worker) -> LeadmagnetError:
        """Why a worker gave no answer (it has been reaped: its exit code is known)."""
        if worker.process.exitcode == -signal.SIGXCPU:
            return RenderLimitError(
                f"template rendering exceeded {self.limits.cpu_seconds:g} s CPU"
            )
        if worker.timed_out:
            return RenderLimitError(
                f"template rendering exceeded {self.limits.wall_seconds:g} s (wall clock)"
            )
        # Killed by something else (OOM killer, operator): may be unrelated to the template, so
        # the consumer retries it; a template that kills every worker ends in the DLQ.
        code = worker.process.exitcode
        return TransientError(f"render worker died (exit code {code})", code="render_crashed")

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for worker in list(self._all):
            self._retire(worker)
        self._idle.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)


_POOLS: dict[tuple[int, RenderLimits, float], RenderPool] = {}


def pool_for(settings: Settings) -> RenderPool:
    """The process's pool for the configured ``RENDER_*`` limits."""
    limits = RenderLimits(
        cpu_seconds=settings.render_cpu_seconds,
        max_output_bytes=settings.render_max_output_bytes,
        max_memory_bytes=settings.render_max_memory_mb * 1024 * 1024 or None,
    )
    return render_pool(
        workers=settings.render_workers,
        limits=limits,
        idle_seconds=settings.render_worker_idle_seconds,
    )


def render_pool(*, workers: int, limits: RenderLimits, idle_seconds: float = 0) -> RenderPool:
    """One pool per process (per configuration)."""
    key = (workers, limits, idle_seconds)
    if key not in _POOLS:
        _POOLS[key] = RenderPool(workers=workers, limits=limits, idle_seconds=idle_seconds)
    return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
