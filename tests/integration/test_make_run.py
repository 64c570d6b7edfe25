"""`make run`'s command, as a user runs it: embedded AWS, bootstrap, five services, demo data,
a printed curl that works, and a clean Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from leadmagnet.testing.moto_server import free_port

pytestmark = pytest.mark.integration


def test_dev_command_runs_the_demo_end_to_end(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "OPENAI", "ANTHROPIC"))
    }
    env["LLM_PROVIDER"] = "auto"  # no keys: must fall back to the offline provider
    aws_port, gw_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leadmagnet.cli.main",
            "dev",
            "--aws-port",
            str(aws_port),
            "--gateway-port",
            str(gw_port),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in "".join(lines):
            assert time.monotonic() < deadline, "".join(lines)
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        base = f"http://127.0.0.1:{gw_port}"
        assert f"gateway:      {base}" in output
        traces = tmp_path / "logs" / "reporter.traces.jsonl"
        assert f"traces:       {tmp_path / 'logs'}/<service>.traces.jsonl" in output
        key = re.search(r"demo API key: (lm_live_\S+)", output)
        assert key, output
        curl = re.search(
            r"curl -X POST (\S+) -H 'content-type: application/json' -d '(.+)'", output
        )
        assert curl, output
        submitted = httpx2.post(
            curl.group(1),
            content=curl.group(2),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert submitted.status_code == 202, submitted.text
        status_url = submitted.json()["status_url"]
        job = {}
        for _ in range(300):
            job = httpx2.get(status_url, timeout=10).json()
            if job["status"] in ("completed", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "completed", job
        # `make run` traces to a file: the report stage's span (written as it ends) names the job.
        for _ in range(300):
            if traces.exists() and job["job_id"] in traces.read_text():
                break
            time.sleep(0.2)
        assert job["job_id"] in traces.read_text()
        html = httpx2.get(job["output_url"], timeout=10).text
        assert "Draft generated offline" in html
        assert "Your growth plan, Ada" in html
        listing = httpx2.get(f"{base}/v1/jobs", headers={"authorization": f"Bearer {key.group(1)}"})
        assert [j["job_id"] for j in listing.json()["jobs"]] == [job["job_id"]]

        # The printed funnel run works offline too: placeholder images and a marked draft.
        run_curl = re.search(
            r"curl -X POST (\S+/v1/runs) -H 'Authorization: Bearer (\S+)' "
            r"-H 'content-type: application/json' -d '(.+)'",
            output,
        )
        assert run_curl, output
        auth = {"authorization": f"Bearer {run_curl.group(2)}"}
        started = httpx2.post(
            run_curl.group(1),
            content=run_curl.group(3),
            headers={**auth, "content-type": "application/json"},
            timeout=10,
        )
        assert started.status_code == 202, started.text
        run = {}
        for _ in range(300):
            run = httpx2.get(started.json()["links"]["run"], headers=auth, timeout=10).json()
            if run["status"] in ("completed", "failed"):
                break
            time.sleep(0.2)
        assert run["status"] == "completed", run
        assert run["output"]["hero"]["headline"].endswith("[offline draft]")
        assert run["output"]["hero"]["cta_url"] == "https://example.com/signup"
        assert [r["status"] for r in run["imageProcessingResults"]] == ["ok"] * 3
        image = httpx2.get(run["output"]["testimonial"]["avatar_url"], timeout=10)
        assert image.content.startswith(b"\x89PNG")
        assert run["cost"]["total"] == 0
        assert run["cost"]["details"]["images"]["imagesGenerated"] == 3

        # A product kit offline: basic-CV analysis, drafted copy, placeholder images.
        buf = io.BytesIO()
        Image.new("RGB", (900, 900), (30, 120, 200)).save(buf, format="PNG")
        ticket = httpx2.post(
            f"{base}/v1/uploads",
            json={"filename": "mug.png", "content_type": "image/png", "size": len(buf.getvalue())},
            headers=auth,
            timeout=10,
        ).json()
        sent = httpx2.post(
            ticket["upload"]["url"],
            data=ticket["upload"]["fields"],
            files={"file": ("mug.png", buf.getvalue(), "image/png")},
            timeout=10,
        )
        assert sent.status_code in (200, 201, 204), sent.text
        kit = httpx2.post(
            f"{base}/v1/jobs",
            json={"kind": "product_marketing", "s3_key": ticket["s3_key"], "auto_confirm": True},
            headers=auth,
            timeout=10,
        )
        assert kit.status_code == 202, kit.text
        done = {}
        for _ in range(300):
            done = httpx2.get(kit.json()["status_url"], timeout=10).json()
            if done["status"] in ("completed", "failed"):
                break
            time.sleep(0.2)
        assert done["status"] == "completed", done
        assert done["data"]["analysis"]["method"] == "basic-cv"
        content = next(a for a in done["artifacts"] if a["kind"] == "content_json")
        assert "[Offline draft]" in httpx2.get(content["url"], timeout=10).text
        assert sum(a["kind"] == "thumbnail" for a in done["artifacts"]) == 6
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
        reader.join(10)
        output = "".join(lines)
    assert proc.returncode == 0, output
    assert "stopped." in output
    for name in ("gateway", "reporter", "renderer", "imager", "notifier"):
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert "Traceback" not in log, f"{name} log:\n{log[-2000:]}"
