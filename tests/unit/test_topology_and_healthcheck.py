from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from leadmagnet.common.healthcheck import main as healthcheck
from leadmagnet.common.topology import Topology, topology_text


def test_services_may_only_name_declared_resources() -> None:
    raw = json.loads(topology_text())
    Topology.model_validate(raw)  # the shipped declaration is consistent
    raw["services"]["renderer"]["tables"].append("no_such_table")
    with pytest.raises(ValidationError, match=r"renderer.*unknown table.*no_such_table"):
        Topology.model_validate(raw)


def test_every_queue_consumer_is_a_declared_service() -> None:
    raw = json.loads(topology_text())
    raw["queues"]["renderer"]["consumer"] = "ghost"
    with pytest.raises(ValidationError, match="unknown service 'ghost'"):
        Topology.model_validate(raw)


def test_healthcheck_file_age(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    health = tmp_path / "health"
    assert healthcheck(["--file", str(health)]) == 1
    health.touch()
    assert healthcheck(["--file", str(health), "--max-age", "30"]) == 0
    old = time.time() - 120
    os.utime(health, (old, old))
    assert healthcheck(["--file", str(health), "--max-age", "90"]) == 1
    assert "limit 90s" in capsys.readouterr().out


def test_healthcheck_only_probes_local_urls() -> None:
    assert healthcheck(["--url", "http://169.254.169.254/latest/meta-data"]) == 1
