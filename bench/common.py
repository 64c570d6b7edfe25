"""Helpers shared by the benchmarks: memory figures of a process, the embedded stack."""

from __future__ import annotations

import secrets
from pathlib import Path

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.settings import Settings


def _status_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    """Current resident set size (VmRSS)."""
    return _status_kib(pid, "VmRSS")


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size since start (VmHWM)."""
    return _status_kib(pid, "VmHWM")


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after "pid (comm) ": the state is ``[0]``, the parent ``[1]``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """The processes a service started, and theirs (the renderer's forkserver and workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(stat_fields(int(entry.name))[1])
        except OSError:  # exited meanwhile
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _rollup_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0.0


def tree_memory_mib(pid: int) -> dict[str, float]:
    """A service's processes with all they started: how many, their RSS summed, and their PSS
    summed (each shared page split among the processes sharing it: what they use together)."""
    pids = [pid, *descendants(pid)]
    rss = pss = 0.0
    for each in pids:
        try:
            rss += _rollup_kib(each, "Rss")
            pss += _rollup_kib(each, "Pss")
        except OSError:  # exited meanwhile
            continue
    return {"processes": len(pids), "rss": rss / 1024, "pss": pss / 1024}


async def fresh_topology(name: str) -> Settings:
    """A new resource prefix on the current endpoint, bootstrapped."""
    settings = Settings(
        resource_prefix=f"{name}{secrets.token_hex(3)}",
        LEADMAGNET_ENV="test",
        llm_provider="offline",
    )
    async with AwsClients(settings) as aws:
        await bootstrap(aws)
    return settings


def reporter_env(settings: Settings, llm_base_url: str, concurrency: int) -> dict[str, str]:
    """A reporter process against the wire-format LLM server at ``concurrency`` (every tenant
    allowed as many model calls, unless its own limit says less)."""
    return {
        "RESOURCE_PREFIX": settings.resource_prefix,
        "LEADMAGNET_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-bench-local-wire-format-server",
        "OPENAI_BASE_URL": llm_base_url,
        "LLM_MAX_RETRIES": "0",
        "CONSUMER_CONCURRENCY": str(concurrency),
        "TENANT_MODEL_CONCURRENCY": str(concurrency),
        "CONSUMER_POLLERS": "2",
        "SQS_WAIT_TIME_SECONDS": "1",
    }
