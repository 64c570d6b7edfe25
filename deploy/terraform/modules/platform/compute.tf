# ECS Fargate: one cluster, the gateway behind an ALB, and one autoscaled service per worker.
locals {
  compute = var.enable_compute ? 1 : 0
}

resource "aws_ecs_cluster" "this" {
  count = local.compute
  name  = var.resource_prefix
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_security_group" "tasks" {
  count       = local.compute
  name        = "${var.resource_prefix}-tasks"
  description = "leadmagnet tasks: gateway reachable from the ALB; all tasks call AWS and LLM APIs over HTTPS"
  vpc_id      = var.vpc_id

  ingress {
    description     = "ALB to gateway"
    from_port       = 8000
    to_port         = 8000
    protocol        = "tcp"
    security_groups = [module.alb[0].security_group_id]
  }

  egress {
    description = "HTTPS to AWS endpoints, LLM providers and webhook targets"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

module "alb" {
  source              = "../alb"
  count               = local.compute
  name                = var.resource_prefix
  vpc_id              = var.vpc_id
  vpc_cidr_block      = var.vpc_cidr_block
  public_subnet_ids   = var.public_subnet_ids
  certificate_arn     = var.certificate_arn
  target_port         = local.topology.services.gateway.port
  deletion_protection = var.deletion_protection
  access_logs_bucket  = var.alb_access_logs_bucket
}

module "service" {
  source   = "../ecs_service"
  for_each = var.enable_compute ? local.topology.services : {}

  name                    = local.name[each.key]
  container_name          = each.key
  cluster_arn             = aws_ecs_cluster.this[0].arn
  cluster_name            = aws_ecs_cluster.this[0].name
  image                   = var.image
  command                 = each.value.command
  cpu                     = var.service_sizes[each.key].cpu
  memory                  = var.service_sizes[each.key].memory
  min_capacity            = var.service_sizes[each.key].min_capacity
  max_capacity            = var.service_sizes[each.key].max_capacity
  environment             = local.service_environment[each.key]
  secrets                 = var.secret_arns
  container_port          = each.value.port
  target_group_arn        = each.key == "gateway" ? module.alb[0].target_group_arn : null
  subnet_ids              = var.private_subnet_ids
  security_group_ids      = [aws_security_group.tasks[0].id]
  task_policy_json        = data.aws_iam_policy_document.service[each.key].json
  queue_name              = contains(keys(local.workers), each.key) ? module.queue[local.workers[each.key]].name : null
  backlog_per_task_target = var.backlog_per_task_target
  stop_timeout_seconds    = each.key == "gateway" ? 30 : min(var.worker_shutdown_grace_seconds + 15, 120)
  log_retention_days      = var.log_retention_days
}

# Optional CDN for public artifact URLs (PUBLIC_BASE_URL).
resource "aws_cloudfront_origin_access_control" "artifacts" {
  count                             = var.enable_cdn ? 1 : 0
  name                              = "${var.resource_prefix}-artifacts"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "artifacts" {
  #checkov:skip=CKV_AWS_68:WAF is attached per deployment.
  #checkov:skip=CKV_AWS_86:Access logging is configured in the account baseline.
  #checkov:skip=CKV_AWS_310:One origin; S3 is the only source of artifacts.
  #checkov:skip=CKV_AWS_374:Lead magnets are shared worldwide.
  #checkov:skip=CKV2_AWS_47:WAF is attached per deployment.
  #checkov:skip=CKV2_AWS_32:Response headers policy is set per deployment.
  #checkov:skip=CKV2_AWS_42:Default certificate until a custom domain is configured.
  #checkov:skip=CKV_AWS_174:Default certificate until a custom domain is configured.
  count           = var.enable_cdn ? 1 : 0
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.resource_prefix} public artifacts"

  origin {
    domain_name              = module.bucket["artifacts"].regional_domain_name
    origin_id                = "artifacts"
    origin_access_control_id = aws_cloudfront_origin_access_control.artifacts[0].id
  }

  default_cache_behavior {
    target_origin_id       = "artifacts"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = "658327ea-f89d-4fab-a63d-7e88639e58f6" # Managed-CachingOptimized
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
