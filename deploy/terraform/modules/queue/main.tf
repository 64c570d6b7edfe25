# A service queue with its DLQ, redrive (and redrive-allow), a policy that lets only the
# subscribed topics send, and the SNS subscriptions with raw delivery and filter policies.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

variable "name" {
  type        = string
  description = "Physical queue name; the DLQ is '<name>-dlq'."
}

variable "visibility_timeout_seconds" {
  type        = number
  description = "Above the handler's budget; the consumer's heartbeat extends it for long calls."
}

variable "message_retention_seconds" {
  type = number
}

variable "receive_wait_time_seconds" {
  type    = number
  default = 20
}

variable "max_receive_count" {
  type = number
}

variable "dlq_retention_seconds" {
  type    = number
  default = 1209600
  validation {
    condition     = var.dlq_retention_seconds <= 1209600
    error_message = "SQS keeps messages at most 14 days."
  }
}

variable "subscriptions" {
  type = list(object({
    topic_arn     = string
    filter_policy = any
  }))
  default     = []
  description = "SNS topics this queue receives from, each with its message-attribute filter policy."
}

variable "enable_redrive_allow_policy" {
  type        = bool
  default     = true
  description = "Off only for endpoints that drop RedriveAllowPolicy (moto), where the provider would wait forever."
}

locals {
  topic_arns = distinct([for s in var.subscriptions : s.topic_arn])
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "this" {
  name                       = var.name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = var.dlq_retention_seconds > var.message_retention_seconds
      error_message = "The DLQ must keep messages longer than its source queue, or redriven messages expire early."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.enable_redrive_allow_policy ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

data "aws_iam_policy_document" "topic_send" {
  count = length(var.subscriptions) > 0 ? 1 : 0
  statement {
    sid       = "AllowTopicSend"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.topic_arns
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count     = length(var.subscriptions) > 0 ? 1 : 0
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.topic_send[0].json
}

resource "aws_sns_topic_subscription" "this" {
  count                = length(var.subscriptions)
  topic_arn            = var.subscriptions[count.index].topic_arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this.arn
  raw_message_delivery = true
  filter_policy_scope  = "MessageAttributes"
  filter_policy        = jsonencode(var.subscriptions[count.index].filter_policy)
  # The policy must exist before SNS delivers, or the first messages are dropped.
  depends_on = [aws_sqs_queue_policy.this]
}

output "arn" {
  value = aws_sqs_queue.this.arn
}

output "url" {
  value = aws_sqs_queue.this.id
}

output "name" {
  value = aws_sqs_queue.this.name
}

output "dlq_arn" {
  value = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  value = aws_sqs_queue.dlq.id
}
