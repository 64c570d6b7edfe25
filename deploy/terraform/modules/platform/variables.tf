variable "resource_prefix" {
  type        = string
  description = "Physical names are '<prefix>-<logical name>' — the RESOURCE_PREFIX setting the services read."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.resource_prefix))
    error_message = "Lower-case letters, digits and '-', starting with a letter (2-41 chars)."
  }
}

variable "environment" {
  type        = string
  description = "LEADMAGNET_ENV: local | test | dev | prod."
  validation {
    condition     = contains(["local", "test", "dev", "prod"], var.environment)
    error_message = "environment must be local, test, dev or prod."
  }
}

variable "topology_file" {
  type        = string
  default     = null
  description = "The topology declaration; defaults to the one the Python code ships."
}

variable "deletion_protection" {
  type    = bool
  default = false
}

variable "require_tls" {
  type        = bool
  default     = true
  description = "TLS-only bucket policies; off only for plain-HTTP local endpoints."
}

variable "force_destroy_buckets" {
  type    = bool
  default = false
}

variable "enable_redrive_allow_policy" {
  type        = bool
  default     = true
  description = "DLQ redrive-allow policy (only the source queue may redrive into it); moto drops it."
}

# ---- email
variable "ses_domain" {
  type    = string
  default = null
}

variable "lead_email_sender" {
  type        = string
  description = "From: address of lead e-mails (LEAD_EMAIL_SENDER); must be on ses_domain in AWS."
}

variable "verify_sender_address" {
  type        = bool
  default     = false
  description = "Also verify the sender address as an identity (SES sandbox, local endpoints)."
}

variable "enable_ses_configuration_set" {
  type    = bool
  default = true
}

# ---- compute (ECS/ALB/autoscaling); off for local endpoints
variable "enable_compute" {
  type    = bool
  default = true
}

variable "enable_cdn" {
  type        = bool
  default     = false
  description = "CloudFront in front of the artifacts bucket for public artifact URLs."
}

variable "image" {
  type        = string
  default     = null
  description = "Container image (repository:tag or @digest) built from docker/Dockerfile."
}

variable "vpc_id" {
  type    = string
  default = null
}

variable "vpc_cidr_block" {
  type        = string
  default     = null
  description = "The VPC's CIDR block; null reads it from vpc_id (set it to plan without EC2 access)."
}

variable "private_subnet_ids" {
  type    = list(string)
  default = []
}

variable "public_subnet_ids" {
  type    = list(string)
  default = []
}

variable "certificate_arn" {
  type    = string
  default = null
}

variable "public_url" {
  type        = string
  default     = null
  description = "Public base URL of the gateway (GATEWAY_PUBLIC_URL), e.g. https://api.example.com."
}

variable "llm_provider" {
  type        = string
  default     = "auto"
  description = "LLM_PROVIDER: auto, openai, anthropic, bedrock or offline (auto never picks bedrock)."
  validation {
    condition     = contains(["auto", "openai", "anthropic", "bedrock", "offline"], var.llm_provider)
    error_message = "llm_provider must be auto, openai, anthropic, bedrock or offline."
  }
}

variable "vision_provider" {
  type        = string
  default     = "auto"
  description = "VISION_PROVIDER: auto, openai, anthropic, bedrock or offline."
  validation {
    condition     = contains(["auto", "openai", "anthropic", "bedrock", "offline"], var.vision_provider)
    error_message = "vision_provider must be auto, openai, anthropic, bedrock or offline."
  }
}

variable "image_provider" {
  type        = string
  default     = "auto"
  description = "IMAGE_PROVIDER: auto, openai, bedrock or offline."
  validation {
    condition     = contains(["auto", "openai", "bedrock", "offline"], var.image_provider)
    error_message = "image_provider must be auto, openai, bedrock or offline."
  }
}

variable "bedrock_region" {
  type        = string
  default     = null
  description = "BEDROCK_REGION; null = the deployment's region."
}

variable "bedrock_text_model" {
  type        = string
  default     = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
  nullable    = false
  description = "BEDROCK_TEXT_MODEL: a model id, an inference-profile id (us., eu., global.…) or an ARN."
}

variable "bedrock_vision_model" {
  type        = string
  default     = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
  nullable    = false
  description = "BEDROCK_VISION_MODEL (as bedrock_text_model)."
}

variable "bedrock_image_model" {
  type        = string
  default     = "amazon.nova-canvas-v1:0"
  nullable    = false
  description = "BEDROCK_IMAGE_MODEL: Amazon Nova Canvas (model id or ARN)."
}

variable "bedrock_extra_model_arns" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "Foundation-model ARNs an application inference profile routes to (its ARN names no model)."
  validation {
    condition     = alltrue([for a in var.bedrock_extra_model_arns : startswith(a, "arn:") && !strcontains(a, "*")])
    error_message = "bedrock_extra_model_arns must be full ARNs without wildcards."
  }
}

variable "secret_arns" {
  type        = map(string)
  default     = {}
  description = "Setting name -> Secrets Manager ARN, e.g. { OPENAI_API_KEY = arn, ANTHROPIC_API_KEY = arn }."
}

variable "extra_environment" {
  type    = map(string)
  default = {}
}

variable "service_sizes" {
  type = map(object({
    cpu          = number
    memory       = number
    min_capacity = number
    max_capacity = number
  }))
  default = {
    gateway  = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 6 }
    reporter = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 20 }
    renderer = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 10 } # two render workers (RENDER_WORKERS) beside the consumer
    imager   = { cpu = 1024, memory = 2048, min_capacity = 1, max_capacity = 10 }
    notifier = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 10 }
  }
}

variable "backlog_per_task_target" {
  type    = number
  default = 20
}

variable "worker_shutdown_grace_seconds" {
  type        = number
  default     = 90
  description = "CONSUMER_SHUTDOWN_GRACE_SECONDS; the task's stopTimeout is this plus 15 s (≤ 120)."
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "alb_access_logs_bucket" {
  type    = string
  default = null
}

# ---- metrics, alarms and the dashboard (alarms.tf)
variable "enable_alarms" {
  type        = bool
  default     = true
  description = "CloudWatch alarms, their SNS topic and the dashboard; off for local endpoints."
}

variable "metrics_namespace" {
  type        = string
  default     = null
  description = "METRICS_NAMESPACE of the services' EMF metrics; defaults to resource_prefix (one per environment)."
}

variable "alarm_email" {
  type        = string
  default     = ""
  nullable    = false
  description = "An address subscribed to the alarms topic (it confirms by mail); empty: none."
}

variable "queue_age_alarm_seconds" {
  type        = number
  default     = 900
  description = "Alarm when a queue's oldest message is older than this (5-minute maximum)."
  validation {
    condition     = var.queue_age_alarm_seconds >= 60
    error_message = "queue_age_alarm_seconds must be at least 60."
  }
}

variable "queue_age_alarm_seconds_by_queue" {
  type        = map(number)
  default     = {}
  nullable    = false
  description = "Per-queue overrides of queue_age_alarm_seconds, by logical queue name (e.g. reporter)."
}

variable "failure_rate_alarm_percent" {
  type        = number
  default     = 10
  description = "Alarm when more than this share of the jobs that finished in 15 minutes failed."
  validation {
    condition     = var.failure_rate_alarm_percent > 0 && var.failure_rate_alarm_percent < 100
    error_message = "failure_rate_alarm_percent must be between 0 and 100."
  }
}

variable "failure_rate_min_jobs" {
  type        = number
  default     = 5
  description = "Jobs that must finish in the 15 minutes before the failure rate may alarm."
  validation {
    condition     = var.failure_rate_min_jobs >= 1
    error_message = "failure_rate_min_jobs must be at least 1."
  }
}
