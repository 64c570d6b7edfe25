"""The public submit routes' per-form quota: a tenant's ``submits_per_minute`` for each of its
forms, counted in the shared ``rate_limits`` windows (``stores.rate_limits``, the mechanism the
publishable keys use), so every gateway replica enforces one budget."""

from __future__ import annotations

from leadmagnet.common.models import Form
from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.rate_limits import RateLimiter, form_subject
from leadmagnet.common.tenant_limits import limits_of

from .api import ErrorDetail, HTTPError


async def check_submit_quota(platform: Platform, form: Form) -> None:
    """Count one submission of ``form``; 429 ``rate_limited`` with ``Retry-After`` (seconds to
    the end of the minute) when its tenant's per-form budget is spent."""
    per_minute = (await limits_of(platform, form.tenant_id)).submits_per_minute
    limiter = RateLimiter(platform.aws, platform.resources.table("rate_limits"))
    retry_after = await limiter.hit(form_subject(form.tenant_id, form.slug), per_minute)
    if retry_after is not None:
        raise HTTPError(
            429,
            "rate_limited",
            f"this form takes at most {per_minute} submissions a minute; "
            f"retry after {retry_after} s",
            [ErrorDetail(loc="path.slug", message=f"over {per_minute} submissions a minute")],
            headers={"retry-after": str(retry_after)},
        )
