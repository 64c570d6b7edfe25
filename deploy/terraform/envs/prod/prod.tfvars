region              = "eu-west-1"
resource_prefix     = "leadmagnet-prod"
deletion_protection = true
ses_domain          = "example.com"
lead_email_sender   = "leads@example.com"
enable_cdn          = true
image               = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/leadmagnet:1.0.0"
vpc_id              = "vpc-0123456789abcdef0"
private_subnet_ids  = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2", "subnet-0aaaaaaaaaaaaaaa3"]
public_subnet_ids   = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0bbbbbbbbbbbbbbb3"]
certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
public_url          = "https://api.example.com"
log_retention_days  = 365
secret_arns = {
  OPENAI_API_KEY    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leadmagnet/openai-AbCdEf"
  ANTHROPIC_API_KEY = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leadmagnet/anthropic-AbCdEf"
}
service_sizes = {
  gateway  = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 8 }
  reporter = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 40 }
  renderer = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 10 }
  imager   = { cpu = 1024, memory = 2048, min_capacity = 1, max_capacity = 10 }
  notifier = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 10 }
}
