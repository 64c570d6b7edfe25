"""Container health check.

``python -m leadmagnet.common.healthcheck --file PATH | --url URL | --auto``.

Workers touch their health file on every poll (at most one long poll, 20 s, apart), so a file
older than ``--max-age`` means the poll loop is stuck. The gateway is checked over HTTP.
``--auto`` (the image's HEALTHCHECK, one image for every service) checks ``$HEALTH_FILE`` once a
worker has created it, and otherwise the gateway's ``/healthz`` on ``$GATEWAY_PORT``.
Exit 0 when healthy, 1 otherwise (Docker HEALTHCHECK and ECS healthCheck semantics).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from pathlib import Path


def file_is_fresh(path: Path, max_age_seconds: float) -> tuple[bool, str]:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"{path} does not exist (no poll yet)"
    if age > max_age_seconds:
        return False, f"{path} is {age:.0f}s old (limit {max_age_seconds:.0f}s)"
    return True, f"last poll {age:.0f}s ago"


def url_answers(url: str, timeout: float) -> tuple[bool, str]:
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        return False, "only local URLs are checked"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local only
            return resp.status == 200, f"HTTP {resp.status}"
    except OSError as e:
        return False, f"{type(e).__name__}: {e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadmagnet.common.healthcheck")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", type=Path, help="a worker's health file")
    target.add_argument("--url", help="the gateway's /healthz URL")
    target.add_argument("--auto", action="store_true", help="worker file if present, else gateway")
    parser.add_argument("--max-age", type=float, default=90.0)
    parser.add_argument("--timeout", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.auto:
        health_file = Path(os.environ.get("HEALTH_FILE", "/tmp/leadmagnet-health"))  # noqa: S108
        if health_file.exists():
            args.file = health_file
        else:
            args.url = f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}/healthz"
    if args.file is not None:
        ok, detail = file_is_fresh(args.file, args.max_age)
    else:
        ok, detail = url_answers(args.url, args.timeout)
    print(("healthy: " if ok else "unhealthy: ") + detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
