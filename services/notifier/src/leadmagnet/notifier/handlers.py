"""The notifier: job outcomes to webhooks (and job files), chat leads to the owner's e-mail."""

from __future__ import annotations

from leadmagnet.common.consumer import FailureHook, Routes
from leadmagnet.common.events.jobs import JobFailed
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import ServicePlan

from .flows import lead_email, webhooks

# also_emits: the plan's hook for unparseable messages fails their job (``job.failed``).
PLAN = ServicePlan(
    "notifier", stages=(webhooks.WEBHOOK, lead_email.LEAD_EMAIL), also_emits=(JobFailed,)
)


def build(platform: Platform) -> tuple[Routes, FailureHook | None]:
    return PLAN.build(platform)
