variable "name" {
  type        = string
  description = "Physical service name (also the task family and log group suffix)."
}

variable "container_name" {
  type = string
}

variable "cluster_arn" {
  type = string
}

variable "cluster_name" {
  type = string
}

variable "image" {
  type = string
}

variable "command" {
  type        = list(string)
  description = "The container command: the service's entry point."
}

variable "cpu" {
  type    = number
  default = 512
}

variable "memory" {
  type    = number
  default = 1024
}

variable "cpu_architecture" {
  type    = string
  default = "X86_64"
}

variable "environment" {
  type        = map(string)
  description = "Plain settings, named exactly as leadmagnet.common.settings reads them."
}

variable "secrets" {
  type        = map(string)
  default     = {}
  description = "Setting name -> Secrets Manager ARN (injected by ECS, never in the task definition)."
}

variable "container_port" {
  type    = number
  default = null
}

variable "target_group_arn" {
  type    = string
  default = null
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "task_policy_json" {
  type        = string
  description = "The task role's least-privilege policy."
}

variable "queue_name" {
  type        = string
  default     = null
  description = "The queue a worker consumes (enables backlog scaling); null for the gateway."
}

variable "min_capacity" {
  type    = number
  default = 1
  validation {
    condition     = var.min_capacity >= 1
    error_message = "Keep at least one task: scaling from zero waits for a CloudWatch alarm period."
  }
}

variable "max_capacity" {
  type    = number
  default = 10
}

variable "backlog_per_task_target" {
  type        = number
  default     = 20
  description = "Acceptable visible messages per task (≈ tolerable latency × per-task throughput)."
}

variable "scale_out_cooldown_seconds" {
  type    = number
  default = 60
}

variable "scale_in_cooldown_seconds" {
  type    = number
  default = 300
}

variable "stop_timeout_seconds" {
  type        = number
  default     = 60
  description = "SIGTERM→SIGKILL: above the consumer's shutdown grace (Fargate allows up to 120 s)."
  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "Fargate stopTimeout is 2-120 seconds."
  }
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "kms_key_arn" {
  type    = string
  default = null
}
