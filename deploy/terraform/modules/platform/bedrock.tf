# Amazon Bedrock: what the task roles may invoke when a provider setting says "bedrock".
#
# Converse and InvokeModel are both the IAM action bedrock:InvokeModel (no streaming is used).
# Granted to exactly the services that call models, for exactly the models they call (the
# reporter: text; the imager: vision and images), nothing when no provider is "bedrock":
#   - a model id             -> arn:aws:bedrock:REGION::foundation-model/ID
#   - an inference profile   -> its ARN (arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID),
#     plus the foundation model in any region it routes to, only through that profile
#     (condition bedrock:InferenceProfileArn)
#   - an ARN                 -> as given; an application inference profile's models come from
#                               bedrock_extra_model_arns
locals {
  bedrock_region  = coalesce(var.bedrock_region, data.aws_region.current.name)
  bedrock_geo     = "/^(us|us-gov|eu|apac|jp|au|ca|global)\\./"
  bedrock_callers = { reporter = ["text"], imager = ["vision", "image"] }
  bedrock_selected = {
    for use, id in {
      text   = var.llm_provider == "bedrock" ? var.bedrock_text_model : null
      vision = var.vision_provider == "bedrock" ? var.bedrock_vision_model : null
      image  = var.image_provider == "bedrock" ? var.bedrock_image_model : null
    } : use => id if id != null
  }
  bedrock_models = {
    for use, id in local.bedrock_selected : use => {
      is_arn      = startswith(id, "arn:")
      is_profile  = startswith(id, "arn:") ? strcontains(id, "inference-profile/") : id != replace(id, local.bedrock_geo, "")
      is_app      = strcontains(id, ":application-inference-profile/")
      foundation  = replace(element(split("/", id), length(split("/", id)) - 1), local.bedrock_geo, "")
      profile_arn = startswith(id, "arn:") ? id : "arn:aws:bedrock:${local.bedrock_region}:${data.aws_caller_identity.current.account_id}:inference-profile/${id}"
    }
  }
  bedrock_grants = {
    for use, m in local.bedrock_models : use => {
      direct = [m.is_profile ? m.profile_arn : (m.is_arn ? local.bedrock_selected[use] : "arn:aws:bedrock:${local.bedrock_region}::foundation-model/${m.foundation}")]
      routed = m.is_profile && !m.is_app ? ["arn:aws:bedrock:*::foundation-model/${m.foundation}"] : []
      via    = m.is_profile ? [m.profile_arn] : []
    }
  }
  bedrock_service_grants = {
    for svc, uses in local.bedrock_callers : svc => {
      direct = distinct(concat(flatten([for u in uses : local.bedrock_grants[u].direct if contains(keys(local.bedrock_grants), u)]), var.bedrock_extra_model_arns))
      routed = distinct(flatten([for u in uses : local.bedrock_grants[u].routed if contains(keys(local.bedrock_grants), u)]))
      via    = distinct(flatten([for u in uses : local.bedrock_grants[u].via if contains(keys(local.bedrock_grants), u)]))
    } if length([for u in uses : u if contains(keys(local.bedrock_grants), u)]) > 0
  }
}
