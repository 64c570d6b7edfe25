"""Run the five services as local processes (``make run``, integration tests, benchmarks).

Each service is started with its real entry point (``python -m leadmagnet.<service>``), its
own log file and its own health file; readiness is the gateway's ``/readyz`` or a worker's health
file being touched by its poll loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from leadmagnet.common.aws import SERVICE_VARIABLE

SERVICES = ("gateway", "reporter", "renderer", "imager", "notifier")
WORKERS = tuple(s for s in SERVICES if s != "gateway")


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    health_file: Path
    started_at: float
    log_handle: IO[bytes] = field(repr=False)


class ServiceStack:
    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        python: str = sys.executable,
        gateway_port: int = 8000,
    ) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        # As in the image (docker/Dockerfile): two malloc arenas, not 8 per core.
        self.env.setdefault("MALLOC_ARENA_MAX", "2")
        self.env["GATEWAY_PORT"] = str(gateway_port)
        self.env.setdefault("GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{gateway_port}")
        self.gateway_port = gateway_port
        self.log_dir = log_dir
        self.python = python
        self.procs: dict[str, ServiceProcess] = {}
        self.ready_after: dict[str, float] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        if name in self.procs and self.procs[name].proc.poll() is None:
            raise RuntimeError(f"{name} is already running")
        health = self.log_dir / f"{name}.health"
        health.unlink(missing_ok=True)
        log_path = self.log_dir / f"{name}.log"
        handle = log_path.open("ab")
        # SERVICE_VARIABLE tags the process's AWS calls with its name (per-service counts).
        env = {
            **self.env,
            "HEALTH_FILE": str(health),
            SERVICE_VARIABLE: name,
            **(extra_env or {}),
        }
        env.setdefault("TRACES_FILE", str(self.traces_path(name)))  # for TRACES_EXPORTER=file
        proc = subprocess.Popen(  # noqa: S603 - our own entry point
            [self.python, "-m", f"leadmagnet.{name}"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, not the children
        )
        sp = ServiceProcess(name, proc, log_path, health, time.time(), handle)
        self.procs[name] = sp
        return sp

    def traces_path(self, name: str) -> Path:
        """Where a service writes its spans with ``TRACES_EXPORTER=file`` (unless TRACES_FILE
        names one file for all)."""
        return self.log_dir / f"{name}.traces.jsonl"

    def is_ready(self, name: str) -> bool:
        sp = self.procs[name]
        if sp.proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {sp.proc.returncode}; see {sp.log_path}:\n" + self.tail(name)
            )
        if name == "gateway":
            try:
                with urllib.request.urlopen(f"{self.gateway_url}/readyz", timeout=2) as r:  # noqa: S310
                    return bool(r.status == 200)
            except OSError:
                return False
        return sp.health_file.exists()

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 90) -> None:
        """Wait until every named service is ready; each one's start → ready time lands in
        ``ready_after`` (seconds, observed every 0.1 s)."""
        pending = set(names or self.procs)
        deadline = time.monotonic() + timeout
        while pending:
            ready = {n for n in pending if self.is_ready(n)}
            for name in ready:
                self.ready_after[name] = time.time() - self.procs[name].started_at
            pending -= ready
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)}")
            time.sleep(0.1)

    def start_all(
        self, names: Iterable[str] = SERVICES, extra_env: Mapping[str, str] | None = None
    ) -> None:
        for name in names:
            self.start(name, extra_env)
        self.wait_ready(names)

    def stop(self, name: str, timeout: float = 60, *, signalled: bool = False) -> int:
        """SIGTERM (once: a second one could land after the handlers are gone), wait for a
        clean exit (SIGKILL after ``timeout``); the exit code."""
        sp = self.procs[name]
        if sp.proc.poll() is None:
            if not signalled:
                sp.proc.send_signal(signal.SIGTERM)
            try:
                sp.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                sp.proc.kill()
                sp.proc.wait()
        sp.log_handle.close()
        return int(sp.proc.returncode)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown at all (chaos tests)."""
        sp = self.procs[name]
        if sp.proc.poll() is None:
            sp.proc.kill()
            sp.proc.wait()
        sp.log_handle.close()

    def stop_all(self, timeout: float = 60) -> dict[str, int]:
        for sp in self.procs.values():
            if sp.proc.poll() is None:
                sp.proc.send_signal(signal.SIGTERM)
        return {name: self.stop(name, timeout, signalled=True) for name in list(self.procs)}

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.procs[name].log_path
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs(self, name: str) -> str:
        path = self.procs[name].log_path
        return path.read_text(errors="replace") if path.exists() else ""
