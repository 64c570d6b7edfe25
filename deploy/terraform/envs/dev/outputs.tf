output "gateway_url" {
  value = module.platform.gateway_url
}

output "queue_urls" {
  value = module.platform.queue_urls
}

output "dkim_records" {
  value = module.platform.dkim_records
}

output "ses_verification_record" {
  value = module.platform.ses_verification_record
}

output "alarm_topic_arn" {
  value = module.platform.alarm_topic_arn
}
