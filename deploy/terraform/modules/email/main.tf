# SES: the sending domain with DKIM (records as outputs for the DNS owner), a configuration set
# that requires TLS, and optionally a verified sender address (sandbox accounts, local endpoints).
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
}

variable "domain" {
  type        = string
  default     = null
  description = "Sending domain; null skips the domain identity (local runs)."
}

variable "sender_email" {
  type        = string
  default     = null
  description = "Verify this address as an identity too (SES sandbox, local endpoints)."
}

variable "configuration_set_name" {
  type = string
}

variable "enable_configuration_set" {
  type        = bool
  default     = true
  description = "Off only where the endpoint lacks SES configuration-set delivery options."
}

resource "aws_ses_domain_identity" "this" {
  count  = var.domain == null ? 0 : 1
  domain = var.domain
}

resource "aws_ses_domain_dkim" "this" {
  count  = var.domain == null ? 0 : 1
  domain = aws_ses_domain_identity.this[0].domain
}

resource "aws_ses_email_identity" "sender" {
  count = var.sender_email == null ? 0 : 1
  email = var.sender_email
}

resource "aws_ses_configuration_set" "this" {
  count = var.enable_configuration_set ? 1 : 0
  name  = var.configuration_set_name
  delivery_options {
    tls_policy = "Require"
  }
}

output "identity_arns" {
  value = concat(
    [for d in aws_ses_domain_identity.this : d.arn],
    [for e in aws_ses_email_identity.sender : e.arn],
  )
}

output "configuration_set_name" {
  value = var.enable_configuration_set ? aws_ses_configuration_set.this[0].name : null
}

output "configuration_set_arn" {
  value = var.enable_configuration_set ? aws_ses_configuration_set.this[0].arn : null
}

output "dkim_records" {
  description = "CNAME records to publish for DKIM."
  value = var.domain == null ? [] : [
    for token in aws_ses_domain_dkim.this[0].dkim_tokens : {
      name  = "${token}._domainkey.${var.domain}"
      type  = "CNAME"
      value = "${token}.dkim.amazonses.com"
    }
  ]
}

output "verification_record" {
  value = var.domain == null ? null : {
    name  = "_amazonses.${var.domain}"
    type  = "TXT"
    value = aws_ses_domain_identity.this[0].verification_token
  }
}
