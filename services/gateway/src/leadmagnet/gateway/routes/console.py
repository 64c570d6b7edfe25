"""What the admin console shows besides the resources themselves (issue 16): product kits, chat
leads, the dead-letter queues and the tenant's spending per day.

Tenant scoping:

- ``GET /v1/kits``, ``GET /v1/leads`` and ``GET /v1/costs`` read only the caller's items (the
  ``by_tenant`` indexes of jobs and of leads).
- ``GET /v1/ops/dlq``: the dead-letter queues are platform-wide and hold every tenant's
  messages. Any tenant's key sees each queue's depth and the age of its oldest message (counts
  and ages: no content, no ids); a message's id, type, subject and ``dlq_reason`` are shown only
  for messages of the caller's own tenant (the envelope's ``tenantid`` and the ``tenant_id``
  attribute must agree). A poison message (no envelope, no tenant) is counted, never described.
  Looking consumes nothing: the same ``DeadLetters.peek`` as ``leadmagnet dlq list`` (received
  with a short visibility, then released at once), on a bounded sample, cached for a few seconds
  so any number of consoles cost one peek per queue per interval.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from leadmagnet.common.dlq import DeadLetter
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, utcnow
from leadmagnet.common.money import micros_to_usd
from leadmagnet.common.products import PRODUCT_KIND
from leadmagnet.flows.leads.models import LeadState

from ..api import ApiContext, Strict
from .registry import api

log = get_logger()

# DLQ peeks: at most this many messages looked at per queue, reused for this many seconds.
DLQ_SAMPLE = 50
DLQ_CACHE_SECONDS = 10.0
# Bounded reads: cost reports read at most COST_MAX_PAGES pages of COST_PAGE_SIZE jobs; the kit
# listing KITS_MAX_PAGES pages (the lead listing bounds itself: LeadStore.list_for_tenant).
COST_PAGE_SIZE = 100
COST_MAX_PAGES = 20
KITS_MAX_PAGES = 10
SLUG = r"^[a-z0-9][a-z0-9-]{1,62}$"

DlqCache = dict[str, tuple[float, int, int, list[DeadLetter]]]


# ---- models ------------------------------------------------------------------------------------


class KitsQuery(Strict):
    limit: int = Field(20, ge=1, le=100)


class KitSummary(BaseModel):
    jobId: str
    status: str
    product: str | None = Field(
        description="From the photo's analysis once there is one: 'type (category)'."
    )
    createdAt: datetime
    costMicros: int
    costUsd: str
    pageUrl: str = Field(description="The kit's job page (/j/{job_id}).")


class KitList(BaseModel):
    kits: list[KitSummary]
    truncated: bool = Field(description="The read bound stopped the listing early.")


class LeadsQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    channel: str | None = Field(None, pattern=SLUG)


class LeadSummary(BaseModel):
    threadId: str
    channel: str
    state: Literal["pending", "sending", "sent", "error"]
    reason: str | None = Field(
        description="The last outcome: empty_thread, missing_contact, not_idle, queued, "
        "not_ready, sent..."
    )
    missing: list[str]
    triggers: int
    updatedAt: datetime
    sentAt: datetime | None


class LeadList(BaseModel):
    leads: list[LeadSummary]
    truncated: bool = Field(description="The read bound stopped the listing early.")


class DeadLetterView(BaseModel):
    messageId: str
    type: str | None
    subject: str | None
    reason: str = Field(description="The consumer's dlq_reason.")
    receiveCount: str
    ageSeconds: int


class DlqQueueView(BaseModel):
    queue: str
    depth: int = Field(description="ApproximateNumberOfMessages of the DLQ (every tenant).")
    inFlight: int = Field(description="ApproximateNumberOfMessagesNotVisible.")
    oldestAgeSeconds: int | None = Field(
        description="Age of the oldest sampled message (every tenant; no content)."
    )
    sampled: int = Field(description=f"Messages looked at (at most {DLQ_SAMPLE}).")
    yours: int = Field(description="Of the sampled messages, those of the caller's tenant.")
    oldestYours: DeadLetterView | None = Field(
        description="The caller's tenant's oldest sampled message, with its reason."
    )
    error: str | None = Field(None, description="Set when the queue could not be read.")


class DlqReport(BaseModel):
    queues: list[DlqQueueView]
    checkedAt: datetime


class CostsQuery(Strict):
    days: int = Field(30, ge=1, le=90)


class CostPoint(BaseModel):
    day: date
    kind: str = Field(description="The job kind: lead_magnet, funnel_rewrite, product_marketing…")
    costMicros: int


class CostReport(BaseModel):
    days: int
    since: date
    series: list[CostPoint] = Field(description="Non-zero (day, kind) sums, by day then kind.")
    totalMicros: int
    jobs: int = Field(description="Jobs read.")
    truncated: bool = Field(description="The read bound stopped before the window's start.")


# ---- kits --------------------------------------------------------------------------------------


def _product(job: Job) -> str | None:
    analysis = job.data.get("analysis")
    product = analysis.get("product") if isinstance(analysis, dict) else None
    if not isinstance(product, dict):
        return None
    kind, category = product.get("type"), product.get("category")
    parts = [p for p in (kind, category) if isinstance(p, str) and p and p != "unknown"]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"{parts[0]} ({parts[1]})"


@api.route(
    "GET",
    "/v1/kits",
    summary="The tenant's product marketing kits, newest first",
    tags=("products",),
    auth=True,
    query=KitsQuery,
    response=KitList,
)
async def list_kits(ctx: ApiContext) -> KitList:
    q: KitsQuery = ctx.query
    jobs, truncated = await ctx.platform.jobs.query_tenant(
        ctx.require_tenant(), kind=PRODUCT_KIND, limit=q.limit, max_pages=KITS_MAX_PAGES
    )
    return KitList(
        kits=[
            KitSummary(
                jobId=j.job_id,
                status=j.status.value,
                product=_product(j),
                createdAt=j.created_at,
                costMicros=j.cost_micros,
                costUsd=micros_to_usd(j.cost_micros),
                pageUrl=f"/j/{j.job_id}",
            )
            for j in jobs
        ],
        truncated=truncated,
    )


# ---- chat leads --------------------------------------------------------------------------------


def _lead_summary(s: LeadState) -> LeadSummary:
    return LeadSummary(
        threadId=s.thread_id,
        channel=s.channel,
        state=s.status,
        reason=s.last_reason,
        missing=s.missing,
        triggers=s.triggers,
        updatedAt=s.updated_at,
        sentAt=s.sent_at,
    )


@api.route(
    "GET",
    "/v1/leads",
    summary="The tenant's chat threads: state, last reason, send time",
    tags=("chat leads",),
    auth=True,
    query=LeadsQuery,
    response=LeadList,
)
async def list_leads(ctx: ApiContext) -> LeadList:
    """Most recently updated first; bounded reads (``truncated`` says when the bound or
    ``limit`` left threads out)."""
    q: LeadsQuery = ctx.query
    states, truncated = await ctx.platform.leads.list_for_tenant(
        ctx.require_tenant(), limit=q.limit, channel=q.channel
    )
    return LeadList(leads=[_lead_summary(s) for s in states], truncated=truncated)


# ---- dead-letter queues ------------------------------------------------------------------------


async def _dlq_sample(ctx: ApiContext, queue: str) -> tuple[int, int, list[DeadLetter]]:
    """(depth, in flight, sampled letters oldest first), shared by every caller for
    DLQ_CACHE_SECONDS (one peek per queue per interval, whoever asks)."""
    letters = ctx.platform.dead_letters
    key = await ctx.platform.resources.queue_url(queue, dlq=True)
    lock, cache = _dlq_state(ctx)
    async with lock:  # concurrent consoles wait for one peek instead of peeking in parallel
        cached = cache.get(key)
        if cached and time.monotonic() - cached[0] < DLQ_CACHE_SECONDS:
            return cached[1], cached[2], cached[3]
        depth, in_flight = await letters.depths(queue)
        # Peek only when there is something to see; it releases what it received at once.
        sample = await letters.peek(queue, limit=DLQ_SAMPLE) if depth else []
        cache[key] = (time.monotonic(), depth, in_flight, sample)
        return depth, in_flight, sample


def _dlq_state(ctx: ApiContext) -> tuple[asyncio.Lock, DlqCache]:
    """The app's peek lock and cache (per application, so per event loop)."""
    state = ctx.request.app.state
    if getattr(state, "console_dlq", None) is None:
        state.console_dlq = (asyncio.Lock(), {})
    found: tuple[asyncio.Lock, DlqCache] = state.console_dlq
    return found


def _letter_view(d: DeadLetter, now_ms: int) -> DeadLetterView:
    s = d.summary()
    return DeadLetterView(
        messageId=d.message_id,
        type=s["type"] if isinstance(s["type"], str) else None,
        subject=s["subject"] if isinstance(s["subject"], str) else None,
        reason=d.reason[:2000],
        receiveCount=d.receive_count,
        ageSeconds=max(0, (now_ms - d.sent_at_ms) // 1000),
    )


async def _queue_view(ctx: ApiContext, queue: str, tenant: str) -> DlqQueueView:
    try:
        depth, in_flight, sample = await _dlq_sample(ctx, queue)
    except (ClientError, BotoCoreError) as e:
        code = e.response.get("Error", {}).get("Code", "") if isinstance(e, ClientError) else ""
        log.warning("console.dlq_unreadable", queue=queue, error=str(e)[:300])
        return DlqQueueView(
            queue=queue,
            depth=0,
            inFlight=0,
            oldestAgeSeconds=None,
            sampled=0,
            yours=0,
            oldestYours=None,
            error=f"the dead-letter queue could not be read{f' ({code})' if code else ''}",
        )
    now_ms = int(time.time() * 1000)
    mine = [d for d in sample if d.tenant_id == tenant]
    return DlqQueueView(
        queue=queue,
        depth=depth,
        inFlight=in_flight,
        oldestAgeSeconds=max(0, (now_ms - sample[0].sent_at_ms) // 1000) if sample else None,
        sampled=len(sample),
        yours=len(mine),
        oldestYours=_letter_view(mine[0], now_ms) if mine else None,
    )


@api.route(
    "GET",
    "/v1/ops/dlq",
    summary="Dead-letter queues: depth, oldest message, your messages' reasons",
    tags=("ops",),
    auth=True,
    response=DlqReport,
)
async def dlq_report(ctx: ApiContext) -> DlqReport:
    """Per queue: depth and the oldest message's age over every tenant (counts only); the
    caller's own oldest message with its type and ``dlq_reason``. Nothing is consumed (the
    ``leadmagnet dlq list`` peek), and the sample is shared for a few seconds."""
    tenant = ctx.require_tenant()
    queues = sorted(ctx.platform.resources.topology.queues)
    views = [await _queue_view(ctx, q, tenant) for q in queues]
    return DlqReport(queues=views, checkedAt=utcnow())


# ---- costs -------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/v1/costs",
    summary="The tenant's model spending per day and job kind",
    tags=("admin",),
    auth=True,
    query=CostsQuery,
    response=CostReport,
)
async def cost_report(ctx: ApiContext) -> CostReport:
    """From the calls recorded on the tenant's jobs created in the last ``days`` days (UTC),
    each call counted on the day it was made; failed calls included. Reads at most
    2,000 jobs (``truncated`` beyond)."""
    q: CostsQuery = ctx.query
    today = utcnow().date()
    since = today - timedelta(days=q.days - 1)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    jobs, truncated = await ctx.platform.jobs.query_tenant(
        ctx.require_tenant(),
        since=start.strftime("%Y-%m-%dT%H:%M:%S"),
        page_size=COST_PAGE_SIZE,
        max_pages=COST_MAX_PAGES,
    )
    sums: dict[tuple[date, str], int] = {}
    for job in jobs:
        calls = [(c.at, c.cost_micros) for c in job.cost_calls]
        if not calls and job.cost_micros:
            calls = [(job.created_at, job.cost_micros)]
        for at, micros in calls:
            day = at.astimezone(UTC).date()
            if micros and since <= day <= today:
                sums[(day, job.kind)] = sums.get((day, job.kind), 0) + micros
    series = [CostPoint(day=d, kind=k, costMicros=v) for (d, k), v in sorted(sums.items())]
    return CostReport(
        days=q.days,
        since=since,
        series=series,
        totalMicros=sum(sums.values()),
        jobs=len(jobs),
        truncated=truncated,
    )
