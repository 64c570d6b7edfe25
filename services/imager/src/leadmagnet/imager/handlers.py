"""The imager: funnel-run images, and the product kit's photo analysis and image branch."""

from __future__ import annotations

from leadmagnet.common.consumer import FailureHook, Routes
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import ServicePlan

from .flows import funnel_images, product_analysis, product_images

PLAN = ServicePlan(
    "imager",
    stages=(funnel_images.IMAGES, product_analysis.ANALYSIS, product_images.IMAGES),
)


def build(platform: Platform) -> tuple[Routes, FailureHook | None]:
    return PLAN.build(platform)
