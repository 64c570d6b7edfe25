"""Imager: image validation, vision analysis and generation (its flows arrive with the product
marketing and funnel issues). Until then it consumes its queue like every worker."""

from __future__ import annotations

from collections.abc import Mapping

from leadmagnet.common.consumer import FailureHook, Handler
from leadmagnet.common.jobflow import job_failure_hook
from leadmagnet.common.platform import Platform

STAGE = "image"


def build(platform: Platform) -> tuple[Mapping[str, Handler], FailureHook | None]:
    handlers: dict[str, Handler] = {}
    return handlers, job_failure_hook(platform, STAGE)
