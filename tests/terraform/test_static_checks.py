"""checkov on the Terraform, hadolint on the Dockerfile, and the containers' commands started as
processes against the embedded AWS endpoint (no Docker engine here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from leadmagnet.common.settings import Settings
from leadmagnet.common.topology import load_topology
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.terraform import REPO, TERRAFORM_DIR

CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yaml"


def test_checkov_passes() -> None:
    assert CHECKOV.exists(), "checkov is installed by scripts/ensure-test-deps.sh (make test)"
    proc = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout


def test_every_checkov_skip_says_why() -> None:
    skips = []
    for tf_file in TERRAFORM_DIR.rglob("*.tf"):
        for line in tf_file.read_text().splitlines():
            if "checkov:skip=" in line:
                skips.append((tf_file.name, line.strip()))
    assert skips, "expected documented skips"
    for name, line in skips:
        match = re.search(r"checkov:skip=(CKV2?_AWS_\d+):(.+)", line)
        assert match, (name, line)
        assert len(match.group(2).strip()) > 15, (name, line)


def test_hadolint_passes() -> None:
    proc = subprocess.run(
        [str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text
    assert "uv sync --frozen" in text  # installs from the lockfile


def test_compose_commands_are_the_topology_commands() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = load_topology().services
    for name, spec in services.items():
        assert compose["services"][name]["command"] == spec.command, name
    env = compose["services"]["gateway"]["environment"]
    known = {(f.alias or n).upper() for n, f in Settings.model_fields.items()}
    sdk = {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert set(env) - known - sdk == set()


@pytest.mark.integration
def test_container_commands_reach_ready(bootstrapped: Settings, tmp_path: Path) -> None:
    """Each service's container command, started as a process with the image's environment
    conventions, becomes healthy by the image's own HEALTHCHECK command."""
    services = load_topology().services
    port = free_port()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    base = {
        **os.environ,
        "RESOURCE_PREFIX": bootstrapped.resource_prefix,
        "LEADMAGNET_ENV": "test",
        "LLM_PROVIDER": "offline",
        "SQS_WAIT_TIME_SECONDS": "1",
        "GATEWAY_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    venv_bin = str(Path(sys.executable).parent)
    try:
        for name, spec in services.items():
            env = {**base, "HEALTH_FILE": str(tmp_path / f"{name}.health")}
            env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
            log = (tmp_path / f"{name}.log").open("wb")
            procs[name] = subprocess.Popen(
                spec.command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        pending = set(services)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                assert procs[name].poll() is None, (tmp_path / f"{name}.log").read_text()
                env = {**base, "HEALTH_FILE": str(tmp_path / f"{name}.health")}
                check = subprocess.run(
                    [sys.executable, "-m", "leadmagnet.common.healthcheck", "--auto"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if name == "gateway" and (tmp_path / "gateway.health").exists():
                    pytest.fail("the gateway must not create a worker health file")
                if check.returncode == 0:
                    pending.discard(name)
            time.sleep(0.3)
        assert not pending, f"not healthy within 60 s: {sorted(pending)}"
    finally:
        for p in procs.values():
            p.terminate()
        codes = {n: p.wait(timeout=60) for n, p in procs.items()}
    assert all(c == 0 for c in codes.values()), codes
