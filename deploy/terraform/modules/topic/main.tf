# One SNS topic for domain events, encrypted with the AWS-managed SNS key.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

variable "name" {
  type        = string
  description = "Physical topic name."
}

variable "kms_master_key_id" {
  type        = string
  default     = "alias/aws/sns"
  description = "KMS key for encryption at rest."
}

resource "aws_sns_topic" "this" {
  name              = var.name
  kms_master_key_id = var.kms_master_key_id
}

output "arn" {
  value = aws_sns_topic.this.arn
}

output "name" {
  value = aws_sns_topic.this.name
}
