"""The gateway's declared outputs. It consumes no queue; its routes publish these events (the
event catalogue's producers come from here and from the workers' stages)."""

from __future__ import annotations

from leadmagnet.common.events.jobs import JobCancelled, JobCompleted, JobFailed, JobRequested
from leadmagnet.common.events.leads import LeadRequested
from leadmagnet.common.events.products import JobProgress, ProductConfirmed, ProductRequested
from leadmagnet.common.events.runs import RunRequested
from leadmagnet.common.stages import ServicePlan

PLAN = ServicePlan(
    "gateway",
    also_emits=(
        JobRequested,  # a hosted/API form submission (routes/public.py)
        RunRequested,  # a funnel run (routes/runs.py)
        ProductRequested,  # a product kit's photo is in (routes/products.py, seed_kits.py)
        ProductConfirmed,  # the customer confirmed the analysis (routes/products.py)
        JobProgress,  # the kit's job.created message (routes/products.py)
        LeadRequested,  # a chat thread's hand-off trigger (routes/leads.py)
        JobCompleted,  # an approval gate's callback approved the job (routes/callbacks.py)
        JobFailed,  # a rejected/expired gate, or a job that could not be enqueued
        JobCancelled,  # POST /v1/jobs/{id}/cancel (routes/job_actions.py)
    ),
)
