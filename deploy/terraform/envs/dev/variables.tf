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
