# A real Terraform-driven deploy against a local AWS endpoint (the embedded moto server or
# LocalStack). Data and messaging only: ECS, ALB and autoscaling are switched off here; the
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

variable "dynamodb_endpoint" {
  type        = string
  default     = null
  description = "DynamoDB elsewhere (LocalStack runs keep DynamoDB on moto); defaults to endpoint."
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
    dynamodb = coalesce(var.dynamodb_endpoint, var.endpoint)
    iam      = var.endpoint
    s3       = var.endpoint
    ses      = var.endpoint
    sns      = var.endpoint
    sqs      = var.endpoint
    sts      = var.endpoint
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
  force_destroy_buckets        = true
  require_tls                  = false # the local endpoint speaks plain HTTP on loopback
  lead_email_sender            = var.lead_email_sender
  verify_sender_address        = true
  enable_ses_configuration_set = var.enable_ses_configuration_set
  enable_redrive_allow_policy  = var.enable_redrive_allow_policy
  extra_environment = {
    AWS_ENDPOINT_URL      = var.endpoint
    ALLOW_PRIVATE_TARGETS = "true"
    LLM_PROVIDER          = "offline"
  }
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
