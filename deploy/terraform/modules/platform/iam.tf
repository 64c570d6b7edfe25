# Least privilege per service, from the topology's 'services' declaration: its own queue (and
# DLQ, for poison), the topic it publishes to, the tables (and their indexes) and buckets it uses,
# SES only for the notifier, Bedrock models only for the services that call them (bedrock.tf).
# No wildcard actions; no '*' resources on data.
data "aws_iam_policy_document" "service" {
  for_each = local.topology.services

  statement {
    sid = "Tables"
    actions = [
      "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
      "dynamodb:Query", "dynamodb:UpdateItem",
    ]
    resources = flatten([for t in each.value.tables : [module.table[t].arn, "${module.table[t].arn}/index/*"]])
  }

  statement {
    sid       = "Publish"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [for t in each.value.publishes : module.topic[t].arn]
  }

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [for b, _ in each.value.buckets : module.bucket[b].arn]
  }

  statement {
    sid       = "ReadObjects"
    actions   = ["s3:GetObject"]
    resources = [for b, _ in each.value.buckets : "${module.bucket[b].arn}/*"]
  }

  dynamic "statement" {
    for_each = length([for b, mode in each.value.buckets : b if mode == "read_write"]) > 0 ? [1] : []
    content {
      sid       = "WriteObjects"
      actions   = ["s3:PutObject", "s3:DeleteObject"]
      resources = [for b, mode in each.value.buckets : "${module.bucket[b].arn}/*" if mode == "read_write"]
    }
  }

  # The retry API (gateway) brings a failed job's withdrawn artifacts back by deleting the
  # delete markers their withdrawal left (ArtifactStore.restore_for_job).
  dynamic "statement" {
    for_each = each.key == "gateway" ? [1] : []
    content {
      sid       = "RestoreWithdrawnArtifacts"
      actions   = ["s3:DeleteObjectVersion"]
      resources = ["${module.bucket["artifacts"].arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.workers), each.key) ? [local.workers[each.key]] : []
    content {
      sid = "ConsumeOwnQueue"
      actions = [
        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage",
      ]
      resources = [module.queue[statement.value].arn, module.queue[statement.value].dlq_arn]
    }
  }

  # The admin console's dead-letter view: look at every DLQ (depth, oldest messages), never
  # delete from it; peeked messages are made visible again at once.
  dynamic "statement" {
    for_each = each.value.peeks_dead_letters ? [1] : []
    content {
      sid       = "PeekDeadLetters"
      actions   = ["sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
      resources = [for q, _ in local.topology.queues : module.queue[q].dlq_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.reads_secrets ? [1] : []
    content {
      sid       = "ReadCallSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = ["arn:aws:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.resource_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.sends_email ? [1] : []
    content {
      sid       = "SendLeadEmail"
      actions   = ["ses:SendRawEmail"]
      resources = compact(concat(module.email.identity_arns, [module.email.configuration_set_arn]))
    }
  }

  # Bedrock (bedrock.tf): Converse and InvokeModel on the configured models only, for the
  # services that call them, when a provider setting is "bedrock".
  dynamic "statement" {
    for_each = [for g in [lookup(local.bedrock_service_grants, each.key, null)] : g if g != null]
    content {
      sid       = "InvokeBedrockModels"
      actions   = ["bedrock:InvokeModel"]
      resources = statement.value.direct
    }
  }

  dynamic "statement" {
    for_each = [for g in [lookup(local.bedrock_service_grants, each.key, null)] : g if length(try(g.routed, [])) > 0]
    content {
      sid       = "InvokeBedrockModelsThroughProfiles"
      actions   = ["bedrock:InvokeModel"]
      resources = statement.value.routed
      condition {
        test     = "StringEquals"
        variable = "bedrock:InferenceProfileArn"
        values   = statement.value.via
      }
    }
  }
}
