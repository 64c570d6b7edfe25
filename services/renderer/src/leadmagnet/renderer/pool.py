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
import math
import multiprocessing
import resource
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from leadmagnet.common.errors import LeadmagnetError, PermanentError, TransientError
from leadmagnet.common.rendering import RenderLimitError
from leadmagnet.common.settings import Settings

PRELOAD = ["leadmagnet.common.rendering"]


@dataclass(frozen=True)
class RenderLimits:
    cpu_seconds: float = 5.0
    max_output_bytes: int = 5_000_000
    max_memory_bytes: int | None = 192 * 1024 * 1024  # a worker idles at ~50 MB

    @property
    def wall_seconds(self) -> float:
        # CPU is the real budget; the wall deadline only catches a worker that stopped making
        # progress (or a machine so loaded that the CPU limit cannot be reached in time).
        return self.cpu_seconds * 3 + 2


def _serve(conn: Connection, limits: RenderLimits) -> None:
    """Worker process main loop: one request at a time, answers ("ok", html) or
    ("error", code, message)."""
    from leadmagnet.common.rendering import render_document

    if limits.max_memory_bytes and hasattr(resource, "RLIMIT_AS"):
        resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        # The CPU budget counts from now: the kernel sends SIGXCPU (default: terminate) when the
        # process's total CPU time passes the soft limit.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = math.ceil(used + limits.cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard < 0 else min(soft, hard), hard))
        try:
            html = render_document(*request, max_output_bytes=limits.max_output_bytes)
        except LeadmagnetError as e:
            conn.send(("error", e.code, e.message))
            continue
        except MemoryError:
            conn.send(("error", "render_limit", "template rendering exceeded the memory limit"))
            return  # a fresh process is cheaper than trusting this heap
        conn.send(("ok", html))


class _Worker:
    def __init__(self, ctx: Any, limits: RenderLimits) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child, limits), daemon=True, name="leadmagnet-render"
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
    """``await pool.render(template, report_md, fields, today)`` -> html, within the limits."""

    def __init__(self, *, workers: int, limits: RenderLimits) -> None:
        self.size = workers
        self.limits = limits
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if "forkserver" in methods:
            self._ctx.set_forkserver_preload(PRELOAD)
        # One thread per worker waits on its pipe; two more start and stop processes.
        self._threads = ThreadPoolExecutor(workers + 2, thread_name_prefix="render")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: set[_Worker] = set()

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.limits)
        self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()

    async def _checkout(self) -> _Worker:
        if self._idle is None:
            self._idle = asyncio.Queue()
            loop = asyncio.get_running_loop()
            for _ in range(self.size):  # process start blocks briefly: off the loop
                self._idle.put_nowait(await loop.run_in_executor(self._threads, self._spawn))
        return await self._idle.get()

    async def render(
        self, template_source: str, report_markdown: str, fields: dict[str, Any], today: date
    ) -> str:
        worker = await self._checkout()
        assert self._idle is not None
        loop = asyncio.get_running_loop()
        request = (template_source, report_markdown, fields, today)
        answer: tuple[Any, ...] | None = None
        try:
            answer = await loop.run_in_executor(
                self._threads, worker.call, request, self.limits.wall_seconds
            )
        finally:
            # Reuse only a worker that answered within its limits; one that overran, died, hit
            # a limit (it exits after MemoryError) or was cancelled mid-render is replaced.
            if answer is not None and answer[:2] != ("error", "render_limit"):
                self._idle.put_nowait(worker)
            else:
                await loop.run_in_executor(self._threads, self._retire, worker)
                self._idle.put_nowait(await loop.run_in_executor(self._threads, self._spawn))
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
        for worker in list(self._all):
            self._retire(worker)
        self._threads.shutdown(wait=False, cancel_futures=True)


_POOLS: dict[tuple[int, RenderLimits], RenderPool] = {}


def pool_for(settings: Settings) -> RenderPool:
    """The process's pool for the configured ``RENDER_*`` limits."""
    limits = RenderLimits(
        cpu_seconds=settings.render_cpu_seconds,
        max_output_bytes=settings.render_max_output_bytes,
        max_memory_bytes=settings.render_max_memory_mb * 1024 * 1024 or None,
    )
    return render_pool(workers=settings.render_workers, limits=limits)


def render_pool(*, workers: int, limits: RenderLimits) -> RenderPool:
    """One pool per process (per configuration)."""
    key = (workers, limits)
    if key not in _POOLS:
        _POOLS[key] = RenderPool(workers=workers, limits=limits)
    return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
