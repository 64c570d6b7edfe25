"""Renderer throughput: report markdown → sanitized HTML → sandboxed template (what the renderer
does per job), beside raw ``markdown.markdown()`` on the same inputs."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import markdown

from leadmagnet.cli.demo import DEMO_TEMPLATE
from leadmagnet.common.rendering import render_document


def sample_report(i: int) -> str:
    sections = []
    for s in range(6):
        sections.append(
            f"## Step {s + 1}: focus area {i % 7}\n\n"
            f"Your team of **{5 + i % 20}** can win *{3 + s}* more deals a month by tightening the "
            f"follow-up. See [the guide](https://example.com/guide/{i}/{s}) and keep `notes`.\n\n"
            "- Write the offer in one sentence\n- Call back within an hour\n- Measure weekly\n\n"
            "> Progress beats perfection.\n"
        )
    return f"# Growth plan {i}\n\n" + "\n".join(sections)


def run(iterations: int = 400) -> dict[str, Any]:
    reports = [sample_report(i) for i in range(50)]
    fields = {"name": "Ada", "company": "Acme", "goal": "more leads", "email": "ada@example.com"}
    today = date(2026, 11, 23)
    for r in reports[:5]:  # warm up (template compilation is cached per process)
        render_document(DEMO_TEMPLATE, r, fields, today)
    t0 = time.perf_counter()
    for i in range(iterations):
        render_document(DEMO_TEMPLATE, reports[i % len(reports)], fields, today)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(iterations):
        markdown.markdown(reports[i % len(reports)])
    raw = time.perf_counter() - t0
    return {
        "iterations": iterations,
        "report_bytes": sum(len(r) for r in reports) // len(reports),
        "pages_per_s": iterations / full,
        "raw_markdown_per_s": iterations / raw,
        "ms_per_page": 1000 * full / iterations,
    }
