"""The reporter's AI text stages, as its plan declares them."""

from __future__ import annotations

from leadmagnet.common.consumer import FailureHook, Routes
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import ServicePlan

from .flows import funnel_agent, lead_magnet, lead_summary, product_copy

PLAN = ServicePlan(
    "reporter",
    stages=(lead_magnet.REPORT, lead_summary.SUMMARY, funnel_agent.AGENT, product_copy.COPY),
)


def build(platform: Platform) -> tuple[Routes, FailureHook | None]:
    return PLAN.build(platform)
