# Internet-facing ALB for the gateway: HTTPS with a modern TLS policy, HTTP redirected to HTTPS,
# health checks on /readyz, invalid headers dropped.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "vpc_cidr_block" {
  type        = string
  default     = null
  description = "The VPC's CIDR (the ALB's egress to the tasks). Null: read from vpc_id (an EC2 call at plan time)."
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the HTTPS listener."
}

variable "target_port" {
  type    = number
  default = 8000
}

variable "deletion_protection" {
  type    = bool
  default = true
}

variable "access_logs_bucket" {
  type    = string
  default = null
}

variable "ingress_cidrs" {
  type    = list(string)
  default = ["0.0.0.0/0"]
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV_AWS_260:A public HTTP API: port 80 only redirects to HTTPS.
  name        = "${var.name}-alb"
  description = "Public HTTP(S) to the gateway ALB"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  ingress {
    description = "HTTP, redirected to HTTPS"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  egress {
    description = "To gateway tasks in the VPC"
    from_port   = var.target_port
    to_port     = var.target_port
    protocol    = "tcp"
    cidr_blocks = [local.vpc_cidr_block]
  }
}

data "aws_vpc" "this" {
  count = var.vpc_cidr_block == null ? 1 : 0
  id    = var.vpc_id
}

locals {
  vpc_cidr_block = var.vpc_cidr_block != null ? var.vpc_cidr_block : data.aws_vpc.this[0].cidr_block
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:WAF is attached per deployment (rules depend on the audience); see README.
  #checkov:skip=CKV_AWS_91:Access logs are on when access_logs_bucket is set.
  #checkov:skip=CKV_AWS_150:Deletion protection follows var.deletion_protection (on in prod, off in dev).
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "gateway" {
  name        = "${var.name}-gw"
  port        = var.target_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  # Matches the gateway's graceful shutdown (uvicorn timeout_graceful_shutdown = 20 s).
  deregistration_delay = 25

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  #checkov:skip=CKV_AWS_2:This listener only redirects to HTTPS.
  #checkov:skip=CKV_AWS_103:This listener only redirects to HTTPS.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

output "dns_name" {
  value = aws_lb.this.dns_name
}

output "target_group_arn" {
  value = aws_lb_target_group.gateway.arn
}

output "security_group_id" {
  value = aws_security_group.alb.id
}
