"""What one load costs the stack: CPU time of each service process (from /proc) and the AWS
calls the embedded endpoint served, by caller, with the endpoint's own CPU time per caller."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.testing.moto_server import HARNESS, AwsCallCounter

from .common import descendants, stat_fields

_TICKS = os.sysconf("SC_CLK_TCK")
OBSERVER = "observer"  # the gateway the benchmark polls while it waits (flows.py)
NOT_THE_PLATFORM = frozenset({HARNESS, OBSERVER})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and of every process it started (the
    renderer renders in worker processes: their CPU is the service's): for it and each live
    descendant, its own (utime + stime in /proc/<pid>/stat) and its reaped children's (cutime
    + cstime). A process that exits is counted by its parent once reaped, never twice."""
    ticks = 0
    for each in (pid, *descendants(pid)):
        try:
            ticks += sum(int(f) for f in stat_fields(each)[11:15])
        except OSError:  # exited meanwhile
            if each == pid:
                raise
    return ticks / _TICKS


def stack_cpu(stack: ServiceStack, names: tuple[str, ...]) -> dict[str, float]:
    return {n: cpu_seconds(stack.procs[n].proc.pid) for n in names}


@dataclass
class Window:
    """A measurement window: open it (``start``), run the load, then ``result``."""

    stack: ServiceStack
    counter: AwsCallCounter
    services: tuple[str, ...]
    _cpu_before: dict[str, float] | None = None

    def start(self) -> None:
        self.counter.reset()
        self._cpu_before = stack_cpu(self.stack, self.services)

    def result(self, jobs: int, completed: int, elapsed: float) -> dict[str, Any]:
        """The figures for ``completed`` jobs; calls and endpoint CPU without the harness's."""
        assert self._cpu_before is not None, "start() first"
        after = stack_cpu(self.stack, self.services)
        by_caller, batched, endpoint_cpu = self.counter.caller_snapshot()
        return {
            "jobs": jobs,
            "completed": completed,
            "elapsed": elapsed,
            "cpu_ms": {n: 1000 * (after[n] - self._cpu_before[n]) for n in self.services},
            "endpoint_cpu_ms": {c: 1000 * s for c, s in endpoint_cpu.items()},
            "calls_by_caller": {
                f"{c}:{s}:{o}": n for (c, s, o), n in sorted(by_caller.items()) if n > 0
            },
            "batched_by_caller": {f"{c}:{s}:{o}": n for (c, s, o), n in sorted(batched.items())},
            "units_by_caller": {
                f"{c}:{s}:{o}": u for (c, s, o), u in sorted(self.counter.units_snapshot().items())
            },
        }


def platform_units(result: dict[str, Any]) -> dict[str, float]:
    """DynamoDB request units (``request_units``) by ``dynamodb:operation``, the benchmark's own
    left out."""
    units: dict[str, float] = {}
    for key, n in result.get("units_by_caller", {}).items():
        caller, op = key.split(":", 1)
        if caller not in NOT_THE_PLATFORM:
            units[op] = units.get(op, 0.0) + n
    return units


def platform_calls(result: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """(calls, batched entries) by ``service:operation``, the benchmark's own left out."""
    calls: Counter[str] = Counter()
    batched: Counter[str] = Counter()
    sources = ((result["calls_by_caller"], calls), (result["batched_by_caller"], batched))
    for source, target in sources:
        for key, n in source.items():
            caller, op = key.split(":", 1)
            if caller not in NOT_THE_PLATFORM:
                target[op] += n
    return calls, batched
