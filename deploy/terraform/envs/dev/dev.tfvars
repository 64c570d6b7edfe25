region              = "eu-west-1"
resource_prefix     = "leadmagnet-dev"
deletion_protection = false
ses_domain          = "dev.example.com"
lead_email_sender   = "leads@dev.example.com"
image               = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/leadmagnet:dev"
vpc_id              = "vpc-0123456789abcdef0"
private_subnet_ids  = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
public_subnet_ids   = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
public_url          = "https://api.dev.example.com"
log_retention_days  = 14
service_sizes = {
  gateway  = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
  reporter = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 3 }
  renderer = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
  imager   = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 2 }
  notifier = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
}
