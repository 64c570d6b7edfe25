"""The reporter's AI text stages: every flow module contributes its routes."""

from __future__ import annotations

from leadmagnet.common.consumer import FailureHook, Routes
from leadmagnet.common.jobflow import job_failure_hook
from leadmagnet.common.platform import Platform
from leadmagnet.common.service import Flow, compose

from .flows import funnel_agent, lead_magnet, lead_summary, product_copy

FLOWS: tuple[Flow, ...] = (lead_magnet, lead_summary, funnel_agent, product_copy)


def build(platform: Platform) -> tuple[Routes, FailureHook | None]:
    # Routes without a hook of their own (and unparseable messages) fail their job.
    return compose(platform, FLOWS), job_failure_hook(platform, "reporter")
