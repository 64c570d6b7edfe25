output "topic_arns" {
  value = { for k, m in module.topic : k => m.arn }
}

output "queue_urls" {
  value = { for k, m in module.queue : k => m.url }
}

output "dlq_urls" {
  value = { for k, m in module.queue : k => m.dlq_url }
}

output "table_names" {
  value = { for k, m in module.table : k => m.name }
}

output "bucket_names" {
  value = { for k, m in module.bucket : k => m.name }
}

output "service_environment" {
  description = "The settings each service gets, by service (same names the code reads)."
  value       = local.service_environment
}

output "service_policies" {
  description = "Each service's task-role policy document (JSON)."
  value       = { for k, d in data.aws_iam_policy_document.service : k => d.json }
}

output "dkim_records" {
  value = module.email.dkim_records
}

output "ses_verification_record" {
  value = module.email.verification_record
}

output "gateway_url" {
  value = var.enable_compute ? "https://${module.alb[0].dns_name}" : null
}

output "bedrock_grants" {
  description = "Per service that calls Bedrock models: the ARNs its task role may invoke (direct), and the foundation models (routed) it may reach only through the inference profiles (via)."
  value       = local.bedrock_service_grants
}

output "alarm_topic_arn" {
  description = "The SNS topic every alarm notifies (subscribe a pager or chat here); null without alarms."
  value       = var.enable_alarms ? aws_sns_topic.alarms[0].arn : null
}

output "dashboard_name" {
  value = var.enable_alarms ? aws_cloudwatch_dashboard.ops[0].dashboard_name : null
}
