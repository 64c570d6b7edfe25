# The prod environment: state in S3 (see backend.hcl.example), default tags, sizes in prod.tfvars.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.60, < 6.0" }
  }
  backend "s3" {
    # bucket, key, region and dynamodb_table/use_lockfile come from -backend-config=backend.hcl
    encrypt = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      project     = "leadmagnet"
      environment = "prod"
      managed-by  = "terraform"
    }
  }
}

module "platform" {
  source                  = "../../modules/platform"
  resource_prefix         = var.resource_prefix
  environment             = "prod"
  deletion_protection     = var.deletion_protection
  ses_domain              = var.ses_domain
  lead_email_sender       = var.lead_email_sender
  enable_compute          = true
  enable_cdn              = var.enable_cdn
  image                   = var.image
  vpc_id                  = var.vpc_id
  vpc_cidr_block          = var.vpc_cidr_block
  private_subnet_ids      = var.private_subnet_ids
  public_subnet_ids       = var.public_subnet_ids
  certificate_arn         = var.certificate_arn
  public_url              = var.public_url
  secret_arns             = var.secret_arns
  service_sizes           = var.service_sizes
  backlog_per_task_target = var.backlog_per_task_target
  log_retention_days      = var.log_retention_days
  alarm_email             = var.alarm_email

  llm_provider             = var.llm_provider
  vision_provider          = var.vision_provider
  image_provider           = var.image_provider
  bedrock_region           = var.bedrock_region
  bedrock_text_model       = var.bedrock_text_model
  bedrock_vision_model     = var.bedrock_vision_model
  bedrock_image_model      = var.bedrock_image_model
  bedrock_extra_model_arns = var.bedrock_extra_model_arns
}
