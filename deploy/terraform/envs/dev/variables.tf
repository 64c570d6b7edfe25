variable "region" {
  type = string
}

variable "resource_prefix" {
  type = string
}

variable "deletion_protection" {
  type = bool
}

variable "ses_domain" {
  type = string
}

variable "lead_email_sender" {
  type = string
}

variable "enable_cdn" {
  type    = bool
  default = false
}

variable "image" {
  type        = string
  description = "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/leadmagnet@sha256:…"
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr_block" {
  type        = string
  default     = null
  description = "The VPC's CIDR block; null reads it from vpc_id (an EC2 call at plan time)."
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "certificate_arn" {
  type = string
}

variable "public_url" {
  type = string
}

variable "secret_arns" {
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
}

variable "backlog_per_task_target" {
  type    = number
  default = 20
}

variable "log_retention_days" {
  type    = number
  default = 30
}

# Model providers (LLM_PROVIDER, VISION_PROVIDER, IMAGE_PROVIDER): "bedrock" runs on the task
# role's IAM permissions, no key; the Bedrock settings are used only where a provider is bedrock.
variable "llm_provider" {
  type    = string
  default = "auto"
}

variable "vision_provider" {
  type    = string
  default = "auto"
}

variable "image_provider" {
  type    = string
  default = "auto"
}

variable "bedrock_region" {
  type    = string
  default = null
}

variable "bedrock_text_model" {
  type        = string
  default     = null
  description = "null = the module's default (us.anthropic.claude-sonnet-4-5-20250929-v1:0)."
}

variable "bedrock_vision_model" {
  type    = string
  default = null
}

variable "bedrock_image_model" {
  type        = string
  default     = null
  description = "null = the module's default (amazon.nova-canvas-v1:0)."
}

variable "bedrock_extra_model_arns" {
  type    = list(string)
  default = []
}

variable "alarm_email" {
  type        = string
  default     = ""
  description = "Subscribed to the alarms topic (confirm the mail AWS sends); empty: none."
}
