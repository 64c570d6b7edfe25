# The whole footprint, composed from the single-purpose modules and driven by the same
# topology.json the Python bootstrap reads: one truth for queues, filters, tables and buckets.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  topology = jsondecode(file(coalesce(var.topology_file, "${path.module}/../../../../libs/common/src/leadmagnet/common/topology.json")))
  # Logical names may repeat across kinds (queue "reporter", service "reporter"): same physical name.
  name    = { for k in distinct(concat(keys(local.topology.topics), keys(local.topology.queues), keys(local.topology.tables), keys(local.topology.buckets), keys(local.topology.services))) : k => "${var.resource_prefix}-${k}" }
  workers = { for q, spec in local.topology.queues : spec.consumer => q }
}

module "topic" {
  source   = "../topic"
  for_each = local.topology.topics
  name     = local.name[each.key]
}

module "queue" {
  source                      = "../queue"
  for_each                    = local.topology.queues
  name                        = local.name[each.key]
  visibility_timeout_seconds  = each.value.visibility_timeout_seconds
  message_retention_seconds   = each.value.message_retention_seconds
  receive_wait_time_seconds   = each.value.receive_wait_time_seconds
  max_receive_count           = each.value.max_receive_count
  dlq_retention_seconds       = each.value.dlq_retention_seconds
  enable_redrive_allow_policy = var.enable_redrive_allow_policy
  subscriptions = [
    for s in each.value.subscriptions : {
      topic_arn     = module.topic[s.topic].arn
      filter_policy = s.filter_policy
    }
  ]
}

module "table" {
  source        = "../table"
  for_each      = local.topology.tables
  name          = local.name[each.key]
  hash_key      = each.value.hash_key.name
  range_key     = try(each.value.range_key.name, null)
  attributes    = each.value.attributes
  ttl_attribute = each.value.ttl_attribute
  global_secondary_indexes = [
    for ix in each.value.global_secondary_indexes : {
      name            = ix.name
      hash_key        = ix.hash_key.name
      range_key       = try(ix.range_key.name, null)
      projection_type = ix.projection_type
    }
  ]
  deletion_protection = var.deletion_protection
}

module "bucket" {
  source          = "../bucket"
  for_each        = local.topology.buckets
  name            = local.name[each.key]
  versioning      = each.value.versioning
  lifecycle_rules = each.value.lifecycle
  force_destroy   = var.force_destroy_buckets
  require_tls     = var.require_tls
  extra_policy_statements = each.key == "artifacts" && var.enable_cdn ? [{
    Sid       = "AllowCloudFrontRead"
    Effect    = "Allow"
    Principal = { Service = "cloudfront.amazonaws.com" }
    Action    = "s3:GetObject"
    Resource  = "arn:aws:s3:::${local.name[each.key]}/*"
    Condition = { StringEquals = { "AWS:SourceArn" = "arn:aws:cloudfront::${data.aws_caller_identity.current.account_id}:distribution/*" } }
  }] : []
}

module "email" {
  source                   = "../email"
  domain                   = var.ses_domain
  sender_email             = var.verify_sender_address ? var.lead_email_sender : null
  configuration_set_name   = "${var.resource_prefix}-mail"
  enable_configuration_set = var.enable_ses_configuration_set
}

# The settings every service reads, named exactly as leadmagnet.common.settings names them.
locals {
  optional_environment = {
    SES_CONFIGURATION_SET = var.enable_ses_configuration_set ? "${var.resource_prefix}-mail" : null
    PUBLIC_BASE_URL       = var.enable_cdn ? "https://${aws_cloudfront_distribution.artifacts[0].domain_name}" : null
    # Bedrock's settings only where a provider is "bedrock" (the code's defaults otherwise).
    BEDROCK_REGION       = length(local.bedrock_selected) > 0 ? local.bedrock_region : null
    BEDROCK_TEXT_MODEL   = lookup(local.bedrock_selected, "text", null)
    BEDROCK_VISION_MODEL = lookup(local.bedrock_selected, "vision", null)
    BEDROCK_IMAGE_MODEL  = lookup(local.bedrock_selected, "image", null)
  }
  base_environment = merge({
    LEADMAGNET_ENV     = var.environment
    RESOURCE_PREFIX    = var.resource_prefix
    AWS_REGION         = data.aws_region.current.name
    LOG_FORMAT         = "json"
    METRICS_NAMESPACE  = local.metrics_namespace # alarms.tf reads the same namespace
    LLM_PROVIDER       = var.llm_provider
    VISION_PROVIDER    = var.vision_provider
    IMAGE_PROVIDER     = var.image_provider
    LEAD_EMAIL_SENDER  = var.lead_email_sender
    GATEWAY_PUBLIC_URL = coalesce(var.public_url, "http://localhost:8000")
  }, { for k, v in local.optional_environment : k => v if v != null }, var.extra_environment)
  service_environment = {
    for svc in keys(local.topology.services) : svc => merge(
      local.base_environment,
      svc == "gateway" ? { GATEWAY_HOST = "0.0.0.0", GATEWAY_PORT = tostring(local.topology.services[svc].port) } : {
        CONSUMER_SHUTDOWN_GRACE_SECONDS = tostring(var.worker_shutdown_grace_seconds)
      },
    )
  }
}
