"""The benchmark's per-service CPU and memory cover the processes a service starts (the
renderer's render workers), not just its own: a child's CPU counts while it lives and after
it is reaped, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `bench`

from bench.common import descendants, tree_memory_mib
from bench.measure import cpu_seconds

BURN = 0.4  # CPU seconds the child spends (its own clock: no wall-time assumption)
CHILD = (
    "import sys, time\n"
    f"while time.process_time() < {BURN}: pass\n"
    "print('burnt', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def burning_child() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_live_child_and_then_a_reaped_one_count_once(
    burning_child: subprocess.Popen[str],
) -> None:
    me = os.getpid()
    before = cpu_seconds(me)
    assert burning_child.stdout is not None
    assert burning_child.stdout.readline().strip() == "burnt"
    assert burning_child.pid in descendants(me)
    live = cpu_seconds(me)
    assert live - before >= BURN - 0.05
    assert burning_child.stdin is not None
    burning_child.stdin.close()
    burning_child.wait()
    reaped = cpu_seconds(me)
    assert burning_child.pid not in descendants(me)
    assert reaped - before >= BURN - 0.05
    # counted once: the child's CPU moved from its own entry to our cutime
    assert reaped - live < BURN / 2


def test_memory_adds_the_processes_a_service_started(
    burning_child: subprocess.Popen[str],
) -> None:
    assert burning_child.stdout is not None
    burning_child.stdout.readline()
    memory = tree_memory_mib(os.getpid())
    alone = tree_memory_mib(burning_child.pid)
    assert memory["processes"] >= 2
    assert alone["processes"] == 1
    assert memory["rss"] > alone["rss"] > 0
    assert 0 < memory["pss"] <= memory["rss"]
