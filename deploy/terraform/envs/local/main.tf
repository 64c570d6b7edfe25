# A real Terraform-driven deploy against a local AWS endpoint (the embedded moto server or
# LocalStack, or both: see the per-service endpoint variables). Data and messaging only: ECS, ALB and autoscaling are switched off here; the
# services run as local processes pointed at exactly these resources.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

variable "endpoint" {
  type        = string
  default     = "http://127.0.0.1:4566"
  description = "The local AWS endpoint (moto server or LocalStack)."
}

# One endpoint per service, each defaulting to `endpoint`: e.g. LocalStack for SQS/SNS/S3/SES and
# DynamoDB on a moto server (LocalStack cannot fetch DynamoDB Local offline). The services get the
# same split through the standard AWS_ENDPOINT_URL_<SERVICE> variables in service_environment.
variable "dynamodb_endpoint" {
  type        = string
  default     = null
  description = "DynamoDB endpoint (LocalStack runs keep DynamoDB on moto); defaults to endpoint."
}

variable "sqs_endpoint" {
  type        = string
  default     = null
  description = "SQS endpoint; defaults to endpoint."
}

variable "sns_endpoint" {
  type        = string
  default     = null
  description = "SNS endpoint; defaults to endpoint."
}

variable "s3_endpoint" {
  type        = string
  default     = null
  description = "S3 endpoint; defaults to endpoint."
}

variable "ses_endpoint" {
  type        = string
  default     = null
  description = "SES endpoint; defaults to endpoint."
}

variable "sts_endpoint" {
  type        = string
  default     = null
  description = "STS endpoint; defaults to endpoint."
}

variable "iam_endpoint" {
  type        = string
  default     = null
  description = "IAM endpoint (Terraform only); defaults to endpoint."
}

variable "secretsmanager_endpoint" {
  type        = string
  default     = null
  description = "Secrets Manager endpoint for the services (Terraform creates no secrets here); defaults to endpoint."
}

locals {
  endpoints = {
    dynamodb = coalesce(var.dynamodb_endpoint, var.endpoint)
    iam      = coalesce(var.iam_endpoint, var.endpoint)
    s3       = coalesce(var.s3_endpoint, var.endpoint)
    ses      = coalesce(var.ses_endpoint, var.endpoint)
    sns      = coalesce(var.sns_endpoint, var.endpoint)
    sqs      = coalesce(var.sqs_endpoint, var.endpoint)
    sts      = coalesce(var.sts_endpoint, var.endpoint)
  }
  # Only the services pointed elsewhere get their own SDK variable (AWS_ENDPOINT_URL covers the rest).
  service_endpoint_environment = {
    for name, value in {
      AWS_ENDPOINT_URL_DYNAMODB        = var.dynamodb_endpoint
      AWS_ENDPOINT_URL_S3              = var.s3_endpoint
      AWS_ENDPOINT_URL_SES             = var.ses_endpoint
      AWS_ENDPOINT_URL_SNS             = var.sns_endpoint
      AWS_ENDPOINT_URL_SQS             = var.sqs_endpoint
      AWS_ENDPOINT_URL_STS             = var.sts_endpoint
      AWS_ENDPOINT_URL_SECRETS_MANAGER = var.secretsmanager_endpoint
    } : name => value if value != null && value != var.endpoint
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "resource_prefix" {
  type    = string
  default = "leadmagnet"
}

variable "lead_email_sender" {
  type    = string
  default = "leads@leadmagnet.local"
}

variable "enable_ses_configuration_set" {
  type        = bool
  default     = false
  description = "moto does not implement PutConfigurationSetDeliveryOptions (TLS policy): off locally."
}

variable "enable_redrive_allow_policy" {
  type        = bool
  default     = false
  description = "moto accepts but does not store RedriveAllowPolicy, so the provider would wait forever: off locally."
}

provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    dynamodb = local.endpoints.dynamodb
    iam      = local.endpoints.iam
    s3       = local.endpoints.s3
    ses      = local.endpoints.ses
    sns      = local.endpoints.sns
    sqs      = local.endpoints.sqs
    sts      = local.endpoints.sts
  }

  default_tags {
    tags = {
      project     = "leadmagnet"
      environment = "local"
    }
  }
}

module "platform" {
  source                       = "../../modules/platform"
  resource_prefix              = var.resource_prefix
  environment                  = "local"
  enable_compute               = false
  enable_alarms                = false # no CloudWatch on the local endpoint
  force_destroy_buckets        = true
  require_tls                  = false # the local endpoint speaks plain HTTP on loopback
  lead_email_sender            = var.lead_email_sender
  verify_sender_address        = true
  enable_ses_configuration_set = var.enable_ses_configuration_set
  enable_redrive_allow_policy  = var.enable_redrive_allow_policy
  extra_environment = merge({
    AWS_ENDPOINT_URL      = var.endpoint
    ALLOW_PRIVATE_TARGETS = "true"
    LLM_PROVIDER          = "offline"
  }, local.service_endpoint_environment)
}

output "queue_urls" {
  value = module.platform.queue_urls
}

output "dlq_urls" {
  value = module.platform.dlq_urls
}

output "topic_arns" {
  value = module.platform.topic_arns
}

output "table_names" {
  value = module.platform.table_names
}

output "bucket_names" {
  value = module.platform.bucket_names
}

output "service_environment" {
  value = module.platform.service_environment
}

output "service_policies" {
  value = module.platform.service_policies
}
