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
  type    = string
  default = "auto"
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
    renderer = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 10 }
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
