"""AWS cost per million jobs from the counted API calls, beside a Step-Functions-per-job design
(the seeds' architecture). Public on-demand list prices, us-east-1, as of late 2025; a model
with stated assumptions, not a bill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# USD per single request / unit.
PRICE = {
    "sqs": 0.40 / 1e6,  # standard queue, per request (each 64 KB chunk; our events are ~1 KB)
    "sns": 0.50 / 1e6,  # publish, per request (64 KB chunks); SNS -> SQS deliveries are free
    "dynamodb_write": 0.625 / 1e6,  # on-demand, per write request unit (1 KB)
    "dynamodb_read": 0.125 / 1e6,  # on-demand, per read request unit (4 KB, strong)
    "s3_put": 0.005 / 1e3,  # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1e3,  # GET, HEAD and the rest
    "secretsmanager": 0.05 / 1e4,
    "ses_email": 0.10 / 1e3,  # per e-mail sent (outbound)
    "sfn_transition": 0.025 / 1e3,  # Step Functions Standard, per state transition
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,  # x86
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
}
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

# The seeds' design: per job a Standard state machine (UpdateJobStatus -> Invoke worker Lambda
# -> UpdateJobStatus -> Succeed: about 4 transitions) and one Lambda that waits for the LLM.
SFN_TRANSITIONS_PER_JOB = 4
LLM_SECONDS = 20.0  # a typical report generation
LAMBDA_GB = 1.0
IMAGE_SECONDS = 15.0  # a typical image generation
SHORT_LAMBDA_SECONDS = 0.5  # a Lambda that only reads and writes DynamoDB or S3


@dataclass(frozen=True)
class SeedDesign:
    """A flow as its seed builds it on Step Functions (Standard) and Lambda (LAMBDA_GB each)."""

    seed: str
    transitions: int
    lambda_invocations: int
    lambda_seconds: float  # billed duration of all its invocations together
    shape: str

    def per_million(self) -> dict[str, float]:
        sfn = self.transitions * PRICE["sfn_transition"] * 1e6
        lam = (
            self.lambda_invocations * PRICE["lambda_request"]
            + self.lambda_seconds * LAMBDA_GB * PRICE["lambda_gb_second"]
        ) * 1e6
        return {"step_functions": sfn, "lambda": lam, "total": sfn + lam}


def seed_designs(funnel_images: int) -> dict[str, SeedDesign]:
    """Each flow's seed design, by the flow names of bench/flows.py (``lead_magnet`` too)."""
    n = funnel_images
    return {
        "lead_magnet": SeedDesign(
            "000",
            SFN_TRANSITIONS_PER_JOB,
            1,
            LLM_SECONDS,
            "UpdateJobStatus → worker Lambda (waits for the LLM) → UpdateJobStatus → Succeed",
        ),
        "product_kit": SeedDesign(
            "002",
            0,
            3,
            2 * LLM_SECONDS + IMAGE_SECONDS,
            "no state machine: an S3-event Lambda for the vision analysis, then a copy Lambda"
            " and an images Lambda (its images generated in parallel)",
        ),
        "funnel_run": SeedDesign(
            "001",
            7 + n,
            6 + n,
            LLM_SECONDS + n * IMAGE_SECONDS + 5 * SHORT_LAMBDA_SECONDS,
            f"InitializeRun, LoadTemplate, ProcessImagesBatch, ProcessImagesMap ({n} ProcessImage"
            " iterations, one Lambda each), AggregateImageResults, ExecuteAgent, SaveOutput",
        ),
        "chat_lead": SeedDesign(
            "003",
            0,
            1,
            LLM_SECONDS,
            "no state machine: the chatkit-lead-email Lambda summarises the thread and sends",
        ),
        "gated_job": SeedDesign(
            "000 + 004",
            SFN_TRANSITIONS_PER_JOB + 6,
            2,
            LLM_SECONDS + SHORT_LAMBDA_SECONDS,
            "seed 000's execution plus seed 004's gate without outbound calls: StoreTaskToken,"
            " WaitForCallback (task token), ProcessCallbackResult, WriteResultsToS3,"
            " WriteExecutionLogToS3, WorkflowComplete; a callback Lambda answers the callback",
        ),
    }


def unit_price(service: str, operation: str) -> float:
    if service == "dynamodb":
        if operation in DDB_WRITES:
            return PRICE["dynamodb_write"]
        if operation in {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}:
            return PRICE["dynamodb_read"]
        return 0.0  # control plane (DescribeTable...)
    if service == "s3":
        return PRICE["s3_put"] if operation in {"PutObject", "CopyObject"} else PRICE["s3_get"]
    if service == "ses":
        return PRICE["ses_email"] if operation in {"SendEmail", "SendRawEmail"} else 0.0
    return PRICE.get(service, 0.0)


def per_million(
    calls: dict[str, int], jobs: int, units: dict[str, float] | None = None
) -> dict[str, Any]:
    """USD per 1 M jobs by service, from calls counted over ``jobs`` completed jobs; DynamoDB's
    from the request ``units`` metered for each operation (item sizes) where given, else one
    unit per call."""
    by_service: dict[str, float] = {}
    for key, n in calls.items():
        service, operation = key.split(":", 1)
        billed = units.get(key, float(n)) if units is not None and service == "dynamodb" else n
        by_service[service] = (
            by_service.get(service, 0.0) + billed / jobs * unit_price(service, operation) * 1e6
        )
    return {"by_service": by_service, "total": sum(by_service.values())}


def fargate_reporter_per_million(jobs_per_second_at_2s: float, llm_seconds: float) -> float:
    """A 0.5 vCPU / 1 GB reporter task at the measured overlap, with LLM_SECONDS-long calls."""
    per_hour = 0.5 * PRICE["fargate_vcpu_hour"] + 1.0 * PRICE["fargate_gb_hour"]
    rate = jobs_per_second_at_2s * llm_seconds / LLM_SECONDS  # same in-flight count, slower calls
    return per_hour / (rate * 3600) * 1e6
