"""A normalised snapshot of the deployed topology, to compare Terraform with the bootstrap."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def client(service: str, endpoint: str) -> Any:
    """A client for ``endpoint``, unless the service has its own SDK endpoint variable
    (``AWS_ENDPOINT_URL_DYNAMODB`` when LocalStack runs keep DynamoDB on moto)."""
    own = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
    return boto3.client(service, endpoint_url=own or endpoint, region_name="us-east-1")


def describe_topology(endpoint: str, prefix: str, topology: Any) -> dict[str, Any]:
    """What exists under a prefix, normalised so Terraform's and the bootstrap's can be compared."""

    def logical(name: str) -> str:
        return name.removeprefix(f"{prefix}-")

    sqs, sns = client("sqs", endpoint), client("sns", endpoint)
    ddb, s3 = client("dynamodb", endpoint), client("s3", endpoint)
    out: dict[str, Any] = {"queues": {}, "subscriptions": {}, "tables": {}, "buckets": {}}
    # moto's account is 123456789012, LocalStack's 000000000000: ask.
    account = client("sts", endpoint).get_caller_identity()["Account"]
    for q in topology.queues:
        url = sqs.get_queue_url(QueueName=f"{prefix}-{q}")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        dlq_url = sqs.get_queue_url(QueueName=f"{prefix}-{q}-dlq")["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        policy = json.loads(attrs["Policy"]) if attrs.get("Policy") else None
        out["queues"][q] = {
            "visibility": attrs["VisibilityTimeout"],
            "retention": attrs["MessageRetentionPeriod"],
            "wait": attrs["ReceiveMessageWaitTimeSeconds"],
            "sse": attrs.get("SqsManagedSseEnabled"),
            "dlq": logical(redrive["deadLetterTargetArn"].rsplit(":", 1)[1]),
            "max_receive": int(redrive["maxReceiveCount"]),
            "dlq_retention": dlq["MessageRetentionPeriod"],
            "dlq_sse": dlq.get("SqsManagedSseEnabled"),
            "policy_sources": sorted(
                logical(arn.rsplit(":", 1)[1])
                for st in (policy or {}).get("Statement", [])
                for arn in _as_list(st["Condition"]["ArnEquals"]["aws:SourceArn"])
            ),
        }
    for t in topology.topics:
        arn = f"arn:aws:sns:us-east-1:{account}:{prefix}-{t}"
        for sub in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            target = logical(sub["Endpoint"].rsplit(":", 1)[1])
            if target not in topology.queues:
                continue  # another system's subscriber (tests add some): not ours to compare
            a = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])[
                "Attributes"
            ]
            out["subscriptions"][f"{t}->{target}"] = {
                "raw": a.get("RawMessageDelivery"),
                "scope": a.get("FilterPolicyScope", "MessageAttributes"),
                "filter": json.loads(a["FilterPolicy"]),
            }
    for t in topology.tables:
        d = ddb.describe_table(TableName=f"{prefix}-{t}")["Table"]
        ttl = ddb.describe_time_to_live(TableName=f"{prefix}-{t}")["TimeToLiveDescription"]
        out["tables"][t] = {
            "keys": d["KeySchema"],
            "attributes": sorted(d["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            "billing": d.get("BillingModeSummary", {}).get("BillingMode"),
            "gsis": sorted(
                (
                    {
                        "name": g["IndexName"],
                        "keys": g["KeySchema"],
                        "projection": g["Projection"]["ProjectionType"],
                    }
                    for g in d.get("GlobalSecondaryIndexes", [])
                ),
                key=lambda g: g["name"],
            ),
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
        }
    for b in topology.buckets:
        name = f"{prefix}-{b}"
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        out["buckets"][b] = {
            "versioning": s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled",
            "public_access_block": s3.get_public_access_block(Bucket=name)[
                "PublicAccessBlockConfiguration"
            ],
            "ownership": s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"][
                "Rules"
            ][0]["ObjectOwnership"],
            "encryption": s3.get_bucket_encryption(Bucket=name)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
            "lifecycle": sorted(
                (
                    {
                        "id": r["ID"],
                        "prefix": r.get("Filter", {}).get("Prefix", r.get("Prefix", "")),
                        "expiration_days": r.get("Expiration", {}).get("Days"),
                        "abort_days": r.get("AbortIncompleteMultipartUpload", {}).get(
                            "DaysAfterInitiation"
                        ),
                        "noncurrent_days": r.get("NoncurrentVersionExpiration", {}).get(
                            "NoncurrentDays"
                        ),
                    }
                    for r in rules
                ),
                key=lambda r: r["id"],
            ),
        }
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
