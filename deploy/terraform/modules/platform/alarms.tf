# What a team is paged on, and one dashboard. Queue age and DLQ depth are SQS's own metrics; job,
# stage and model metrics are the EMF lines the services print (leadmagnet.common.metrics), which
# CloudWatch Logs turns into metrics in METRICS_NAMESPACE: no agent, no PutMetricData.
locals {
  alarms            = var.enable_alarms ? 1 : 0
  metrics_namespace = coalesce(var.metrics_namespace, var.resource_prefix)
  alarm_actions     = var.enable_alarms ? [aws_sns_topic.alarms[0].arn] : []
  alarm_queues      = var.enable_alarms ? local.topology.queues : {}
  # SEARCH schemas quote the namespace: resource prefixes contain '-'.
  search_namespace = "\"${local.metrics_namespace}\""
}

# CloudWatch cannot publish to a topic under the AWS-managed SNS key (its policy cannot name
# CloudWatch), so alarm notifications get their own customer-managed key.
resource "aws_kms_key" "alarms" {
  count                   = local.alarms
  description             = "${var.resource_prefix} alarm notifications (SNS encryption at rest)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # AWS's default key-policy statement: the account's IAM policies decide who manages it.
        Sid       = "AccountIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchPublishesAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
      },
    ]
  })
}

resource "aws_kms_alias" "alarms" {
  count         = local.alarms
  name          = "alias/${var.resource_prefix}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count             = local.alarms
  name              = "${var.resource_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.alarms
  arn   = aws_sns_topic.alarms[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudWatchAlarmsPublish"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alarms[0].arn
      Condition = {
        StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:aws:cloudwatch:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:alarm:${var.resource_prefix}-*" }
      }
    }]
  })
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.enable_alarms && var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email" # AWS mails a confirmation link first; nothing arrives until it is clicked
  endpoint  = var.alarm_email
}

# A message in a DLQ is a job that needed a person: one is enough to page.
resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each            = local.alarm_queues
  alarm_name          = "${local.name[each.key]}-dlq-not-empty"
  alarm_description   = "Messages in ${local.name[each.key]}-dlq: read their reason with `leadmagnet dlq`, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = "${local.name[each.key]}-dlq" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The oldest message's age: workers down, stuck or outscaled (backoff retries age too).
resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each            = local.alarm_queues
  alarm_name          = "${local.name[each.key]}-oldest-message-age"
  alarm_description   = "The oldest message in ${local.name[each.key]} waited longer than ${lookup(var.queue_age_alarm_seconds_by_queue, each.key, var.queue_age_alarm_seconds)} s: is ${each.value.consumer} running and keeping up?"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = local.name[each.key] }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = lookup(var.queue_age_alarm_seconds_by_queue, each.key, var.queue_age_alarm_seconds)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Failed / finished jobs over 15 minutes, from the all-jobs totals (the EMF lines' empty dimension
# set); quiet below a minimum volume so one failed job at night pages nobody.
resource "aws_cloudwatch_metric_alarm" "job_failure_rate" {
  count               = local.alarms
  alarm_name          = "${var.resource_prefix}-job-failure-rate"
  alarm_description   = "More than ${var.failure_rate_alarm_percent}% of the jobs that finished in 15 minutes failed (at least ${var.failure_rate_min_jobs} finished)."
  evaluation_periods  = 1
  threshold           = var.failure_rate_alarm_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    label       = "Failed jobs (%)"
    expression  = "IF(FILL(completed, 0) + FILL(failed, 0) >= ${var.failure_rate_min_jobs}, 100 * FILL(failed, 0) / (FILL(completed, 0) + FILL(failed, 0)), 0)"
    return_data = true
  }

  metric_query {
    id = "failed"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "JobsFailed"
      period      = 900
      stat        = "Sum"
    }
  }

  metric_query {
    id = "completed"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "JobsCompleted"
      period      = 900
      stat        = "Sum"
    }
  }
}

locals {
  region = data.aws_region.current.name
  # A SEARCH over the EMF metrics: one line per value of `dims` (e.g. one per job kind).
  search = { for k, v in {
    started   = ["Kind", "JobsStarted", "Sum"]
    completed = ["Kind", "JobsCompleted", "Sum"]
    failed    = ["Kind", "JobsFailed", "Sum"]
    p50       = ["Service,Stage", "StageLatency", "p50"]
    p95       = ["Service,Stage", "StageLatency", "p95"]
    stagefail = ["Service,Stage", "StageFailed", "Sum"]
    input     = ["Provider,Model", "InputTokens", "Sum"]
    output    = ["Provider,Model", "OutputTokens", "Sum"]
    cost      = ["Provider,Model", "CostMicros", "Sum"]
  } : k => "SEARCH('{${local.search_namespace},${v[0]}} MetricName=\"${v[1]}\"', '${v[2]}', 300)" }
  queue_names = sort([for q in keys(local.topology.queues) : local.name[q]])
  widget = {
    type   = "metric"
    width  = 12
    height = 6
  }
  dashboard_widgets = [
    merge(local.widget, { x = 0, y = 0, properties = {
      title = "Jobs per kind (started, completed, failed)", region = local.region, view = "timeSeries", period = 300
      metrics = [
        [{ id = "started", expression = local.search.started, label = "started" }],
        [{ id = "completed", expression = local.search.completed, label = "completed" }],
        [{ id = "failed", expression = local.search.failed, label = "failed" }],
      ]
    } }),
    merge(local.widget, { x = 12, y = 0, properties = {
      title = "Job failure rate, 15 min (%)", region = local.region, view = "timeSeries"
      metrics = [
        [local.metrics_namespace, "JobsFailed", { id = "f", stat = "Sum", period = 900, visible = false }],
        [local.metrics_namespace, "JobsCompleted", { id = "c", stat = "Sum", period = 900, visible = false }],
        [{ id = "rate", expression = "100 * FILL(f, 0) / (FILL(c, 0) + FILL(f, 0))", label = "failed %" }],
      ]
      annotations = { horizontal = [{ label = "alarm", value = var.failure_rate_alarm_percent }] }
    } }),
    merge(local.widget, { x = 0, y = 6, properties = {
      title = "Stage latency p50 / p95 (ms)", region = local.region, view = "timeSeries", period = 300
      metrics = [
        [{ id = "p50", expression = local.search.p50, label = "p50" }],
        [{ id = "p95", expression = local.search.p95, label = "p95" }],
      ]
    } }),
    merge(local.widget, { x = 12, y = 6, properties = {
      title   = "Failed stage deliveries (retries included)", region = local.region, view = "timeSeries", period = 300
      metrics = [[{ id = "stagefail", expression = local.search.stagefail, label = "" }]]
    } }),
    merge(local.widget, { x = 0, y = 12, properties = {
      title       = "Oldest message age per queue (s)", region = local.region, view = "timeSeries", period = 300, stat = "Maximum"
      metrics     = [for q in local.queue_names : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q]]
      annotations = { horizontal = [{ label = "alarm", value = var.queue_age_alarm_seconds }] }
    } }),
    merge(local.widget, { x = 12, y = 12, properties = {
      title   = "DLQ depth", region = local.region, view = "timeSeries", period = 300, stat = "Maximum"
      metrics = [for q in local.queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${q}-dlq"]]
    } }),
    merge(local.widget, { x = 0, y = 18, properties = {
      title = "Model tokens per provider/model", region = local.region, view = "timeSeries", period = 300
      metrics = [
        [{ id = "input", expression = local.search.input, label = "input" }],
        [{ id = "output", expression = local.search.output, label = "output" }],
      ]
    } }),
    merge(local.widget, { x = 12, y = 18, properties = {
      title = "Model cost per provider/model (USD)", region = local.region, view = "timeSeries", period = 300
      metrics = [
        [{ id = "micros", expression = local.search.cost, visible = false }],
        [{ id = "usd", expression = "micros / 1000000", label = "" }],
      ]
    } }),
  ]
}

resource "aws_cloudwatch_dashboard" "ops" {
  count          = local.alarms
  dashboard_name = "${var.resource_prefix}-operations"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
