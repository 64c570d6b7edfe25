"""A render worker process: what runs there, and only that (the pool forks workers from a
forkserver that preloaded this module, and a worker imports nothing more: no SDK, no settings,
no event loop)."""

from __future__ import annotations

import math
import resource
import signal
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection

from leadmagnet.common.errors import LeadmagnetError
from leadmagnet.common.rendering import render_document


@dataclass(frozen=True)
class RenderLimits:
    cpu_seconds: float = 5.0
    max_output_bytes: int = 5_000_000
    max_memory_bytes: int | None = 192 * 1024 * 1024  # address space; a worker idles at ~35 MB

    @property
    def wall_seconds(self) -> float:
        # CPU is the real budget; the wall deadline only catches a worker that stopped making
        # progress (or a machine so loaded that the CPU limit cannot be reached in time).
        return self.cpu_seconds * 3 + 2


def serve(conn: Connection, limits: RenderLimits) -> None:
    """Worker process main loop: one request at a time, answers ("ok", html) or
    ("error", code, message)."""
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


def warm() -> None:
    """One small render: builds the Markdown converter (python-markdown imports its extensions
    then), jinja's sandbox and nh3's cleaner, so a process forked afterwards starts ready."""
    render_document(
        "<main>{{ REPORT_CONTENT }}</main>",
        "# warm\n\n*up*",
        {},
        date(2000, 1, 1),
        max_output_bytes=10_000,
    )
