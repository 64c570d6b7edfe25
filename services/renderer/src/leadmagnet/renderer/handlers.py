"""The renderer: the lead magnet's rendering stage and its approval-gate deadlines."""

from __future__ import annotations

from leadmagnet.common.consumer import FailureHook, Routes
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import ServicePlan

from .flows import lead_magnet

PLAN = ServicePlan("renderer", stages=(lead_magnet.RENDER, lead_magnet.DEADLINE))


def build(platform: Platform) -> tuple[Routes, FailureHook | None]:
    return PLAN.build(platform)
