"""Process settings: every knob comes from the environment, with safe defaults.

Standard AWS SDK variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_REGION``,
credentials) are read by botocore itself, so the same code runs against moto, LocalStack or AWS.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    environment: Literal["local", "test", "dev", "prod"] = Field("local", alias="LEADMAGNET_ENV")
    resource_prefix: str = Field(
        "leadmagnet",
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="Physical AWS names are '{prefix}-{logical name}'.",
    )
    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    aws_max_pool_connections: int = Field(64, ge=10, le=1024)

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # traces (leadmagnet.common.tracing); OTLP's endpoint: OTEL_EXPORTER_OTLP_ENDPOINT
    traces_exporter: Literal["none", "console", "file", "otlp"] = "none"
    traces_file: Path | None = Field(
        None, description="JSON lines for traces_exporter=file; default ./<service>.traces.jsonl."
    )
    # CloudWatch Embedded Metric Format lines on stdout (leadmagnet.common.metrics)
    metrics_enabled: bool = True
    metrics_namespace: str = Field("leadmagnet", min_length=1, max_length=255)

    # consumer runtime
    consumer_concurrency: int = Field(8, ge=1, le=512)
    consumer_pollers: int = Field(1, ge=1, le=16)
    sqs_wait_time_seconds: int = Field(20, ge=0, le=20)
    # Backoff comes from each queue's topology entry; these override it (tests use small values).
    consumer_backoff_base_seconds: float | None = Field(None, gt=0)
    consumer_backoff_cap_seconds: float | None = Field(None, gt=0, le=43_200)
    consumer_visibility_timeout_seconds: int | None = Field(
        None,
        ge=5,
        le=43_200,
        description="Overrides the queue's visibility timeout (= the stage lease): how soon a "
        "crashed worker's message is retried. Tests use small values.",
    )
    consumer_shutdown_grace_seconds: float = Field(30.0, gt=0, le=110)
    # How long a delete or visibility change waits for others to share its batch call (the AWS
    # SDK for Java's buffered SQS client holds a batch open 200 ms by default). Nothing waits on
    # a delete: a message handled is only deleted up to this much later (a crash in between
    # redelivers it, which the stages absorb).
    consumer_ack_flush_seconds: float = Field(0.2, gt=0, le=5)
    health_file: Path | None = Field(
        Path("/tmp/leadmagnet-health"),  # noqa: S108 - container-local liveness file
        description="Workers touch this file on every poll; a HEALTHCHECK tests its age.",
    )

    # LLM providers
    llm_provider: Literal["auto", "openai", "anthropic", "bedrock", "offline"] = "auto"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-5.4-mini"
    openai_image_model: str = "gpt-image-2"
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-6"
    vision_provider: Literal["auto", "openai", "anthropic", "bedrock", "offline"] = "auto"
    image_provider: Literal["auto", "openai", "bedrock", "offline"] = "auto"
    # Amazon Bedrock (IAM credentials of the task role; no key). Model ids, inference-profile ids
    # ("us.anthropic...") or ARNs. Chosen only when asked for: `auto` never picks Bedrock.
    bedrock_region: str | None = Field(None, description="Defaults to AWS_REGION.")
    bedrock_text_model: str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    bedrock_vision_model: str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    bedrock_image_model: str = "amazon.nova-canvas-v1:0"
    llm_timeout_seconds: float = Field(120.0, gt=0)
    llm_max_retries: int = Field(1, ge=0, le=5)
    llm_max_output_tokens: int = Field(4096, ge=16)
    prices_file: Path | None = None

    # artifacts
    public_base_url: str | None = Field(
        None, description="CDN base for public artifact URLs; presigned GETs when unset."
    )
    artifact_url_ttl_seconds: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600)

    # outbound HTTP (webhooks, callbacks, attachment fetches)
    allow_private_targets: bool = Field(
        False, description="Allow loopback/private targets: local development only."
    )
    webhook_timeout_seconds: float = Field(15.0, gt=0, le=60)

    # chat-lead hand-off (seed 003)
    lead_idle_delay_seconds: int = Field(300, ge=0, le=900)
    lead_inline_attachment_max_bytes: int = Field(3_000_000, ge=0)
    lead_email_max_bytes: int = Field(
        10_000_000, ge=100_000, description="SES v1 limit, counted after base64 encoding."
    )
    lead_email_sender: str = "leads@leadmagnet.local"
    ses_configuration_set: str | None = Field(
        None, description="SES configuration set (Terraform's, requires TLS); none locally."
    )
    lead_dedupe_ttl_days: int = Field(30, ge=1)
    lead_attribution_ttl_days: int = Field(180, ge=1)
    sms_link_token_ttl_days: int = Field(7, ge=1)
    lead_send_lease_seconds: int = Field(120, ge=10)
    lead_error_cooldown_seconds: int = Field(600, ge=0)
    chat_attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)

    # funnel rewrite runs (seed 001)
    run_image_concurrency: int = Field(
        3, ge=1, le=3, description="Image elements processed at once per run (seed: max 3)."
    )
    run_image_attempts: int = Field(
        3, ge=1, le=10, description="Deliveries that may retry a transiently failing image."
    )
    run_agent_attempts: int = Field(
        3, ge=1, le=5, description="Agent answers tried before a changed structure fails the run."
    )

    # per-tenant limits (a tenant's own `limits` override these; leadmagnet.common.tenant_limits)
    tenant_model_concurrency: int = Field(
        4,
        ge=1,
        le=512,
        description="Model calls of one tenant in flight at once over every replica: half of one "
        "worker's consumer_concurrency, so one tenant's flood always leaves room for others.",
    )
    form_submits_per_minute: int = Field(
        60,
        ge=1,
        le=6000,
        description="Submissions a minute per public form: far above a human-facing form's "
        "traffic, low enough that a scripted flood cannot start unbounded model work.",
    )
    model_slot_lease_seconds: int = Field(
        60, ge=10, le=3600, description="A held model slot's lease (renewed while the call runs)."
    )
    tenant_busy_retry_seconds: float = Field(
        5.0, gt=0, le=900, description="How soon a job deferred by its tenant's limit retries."
    )
    consumer_deferral_budget_seconds: int = Field(
        86_400,
        ge=60,
        description="How long a message may keep being deferred (Deferred, e.g. a busy tenant) "
        "without spending its receive budget; after that a deferral counts as an attempt.",
    )

    # gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = Field(256 * 1024, ge=1024)

    # renderer: a tenant template's budget per job (see leadmagnet.renderer.pool)
    render_workers: int = Field(2, ge=1, le=64, description="Render processes per renderer.")
    render_worker_idle_seconds: float = Field(
        60.0, ge=0, description="A render process idle this long exits (0: never)."
    )
    render_cpu_seconds: float = Field(5.0, gt=0, le=120)
    render_max_output_bytes: int = Field(5_000_000, ge=10_000)
    render_max_memory_mb: int = Field(
        192, ge=0, description="RLIMIT_AS per render process (0: none); a worker idles at ~35."
    )

    def name(self, logical: str) -> str:
        """Physical resource name for a logical topology name."""
        return f"{self.resource_prefix}-{logical}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
