"""Create (or converge) every topology resource against the configured endpoint.

Used by ``make run``, the test fixtures and the LocalStack runs. Idempotent: running it twice
changes nothing. Production uses Terraform over the same ``topology.json``.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .aws import AwsClients
from .logging import get_logger
from .resources import Resources
from .topology import Queue, Table, Topology

log = get_logger()


def queue_policy(queue_arn: str, topic_arns: list[str]) -> str:
    """Only our topic may send to the queue (``aws:SourceArn``)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowTopicSend",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
                }
            ],
        }
    )


def queue_attributes(q: Queue, dlq_arn: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(q.visibility_timeout_seconds),
        "MessageRetentionPeriod": str(q.message_retention_seconds),
        "ReceiveMessageWaitTimeSeconds": str(q.receive_wait_time_seconds),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}
        ),
        "SqsManagedSseEnabled": "true",
    }


async def _ensure_queue(aws: AwsClients, name: str, attrs: dict[str, str]) -> str:
    try:
        url: str = (await aws.sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = (await aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]
    await aws.sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
    return url


async def _ensure_subscription(
    aws: AwsClients, topic_arn: str, queue_arn: str, filter_policy: dict[str, Any]
) -> None:
    attrs = {
        "RawMessageDelivery": "true",
        "FilterPolicyScope": "MessageAttributes",
        "FilterPolicy": json.dumps(filter_policy, sort_keys=True),
    }
    paginator = aws.sns.get_paginator("list_subscriptions_by_topic")
    async for page in paginator.paginate(TopicArn=topic_arn):
        for sub in page.get("Subscriptions", []):
            if sub["Endpoint"] == queue_arn and sub["Protocol"] == "sqs":
                for key, value in attrs.items():
                    await aws.sns.set_subscription_attributes(
                        SubscriptionArn=sub["SubscriptionArn"],
                        AttributeName=key,
                        AttributeValue=value,
                    )
                return
    await aws.sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attrs
    )


def table_definition(name: str, t: Table) -> dict[str, Any]:
    keys = [{"AttributeName": t.hash_key.name, "KeyType": "HASH"}]
    if t.range_key:
        keys.append({"AttributeName": t.range_key.name, "KeyType": "RANGE"})
    spec: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": a.name, "AttributeType": a.type} for a in t.attributes
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
    }
    if t.global_secondary_indexes:
        gsis = []
        for ix in t.global_secondary_indexes:
            ks = [{"AttributeName": ix.hash_key.name, "KeyType": "HASH"}]
            if ix.range_key:
                ks.append({"AttributeName": ix.range_key.name, "KeyType": "RANGE"})
            gsis.append(
                {
                    "IndexName": ix.name,
                    "KeySchema": ks,
                    "Projection": {"ProjectionType": ix.projection_type},
                }
            )
        spec["GlobalSecondaryIndexes"] = gsis
    return spec


def _check_key_schema(name: str, t: Table, actual: list[dict[str, str]]) -> None:
    """A key schema cannot change in place (callback_tokens gained tenant_id as its hash key):
    say so plainly instead of letting every request fail with a ValidationException."""
    declared = table_definition(name, t)["KeySchema"]

    def keys(schema: list[dict[str, str]]) -> set[tuple[str, str]]:
        return {(k["AttributeName"], k["KeyType"]) for k in schema}

    if keys(actual) != keys(declared):
        raise RuntimeError(
            f"table {name} has key {actual}, but the topology declares {declared}: it was "
            "created by an older version. Drain it and delete it; bootstrap recreates it."
        )


async def _ensure_table(aws: AwsClients, name: str, t: Table) -> None:
    try:
        described = await aws.dynamodb.describe_table(TableName=name)
        _check_key_schema(name, t, described["Table"].get("KeySchema", []))
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        await aws.dynamodb.create_table(**table_definition(name, t))
        waiter = aws.dynamodb.get_waiter("table_exists")
        await waiter.wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    if t.ttl_attribute:
        ttl = await aws.dynamodb.describe_time_to_live(TableName=name)
        status = ttl["TimeToLiveDescription"].get("TimeToLiveStatus")
        if status not in ("ENABLED", "ENABLING"):
            await aws.dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": t.ttl_attribute},
            )


async def _ensure_bucket(aws: AwsClients, name: str, versioning: bool, rules: list[Any]) -> None:
    try:
        await aws.s3.head_bucket(Bucket=name)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": name}
        if aws.settings.aws_region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": aws.settings.aws_region}
        await aws.s3.create_bucket(**kwargs)
    await aws.s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    await aws.s3.put_bucket_ownership_controls(
        Bucket=name,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    await aws.s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if versioning:
        await aws.s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}
        )
    lifecycle = [
        {
            "ID": r.id,
            "Filter": {"Prefix": r.prefix},
            "Status": "Enabled",
            "Expiration": {"Days": r.expiration_days},
        }
        for r in rules
    ]
    lifecycle.append(
        {
            "ID": "abort-incomplete-multipart",
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    )
    if versioning:  # same rule as deploy/terraform/modules/bucket
        lifecycle.append(
            {
                "ID": "expire-noncurrent-versions",
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            }
        )
    await aws.s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": lifecycle}
    )


async def bootstrap(aws: AwsClients, topology: Topology | None = None) -> Resources:
    """Create every queue, DLQ, topic, subscription, table and bucket; return the resolver."""
    res = Resources(aws, topology)
    topo = res.topology
    topic_arns: dict[str, str] = {}
    for logical in topo.topics:
        resp = await aws.sns.create_topic(Name=res.name(logical))
        topic_arns[logical] = resp["TopicArn"]
    for logical, q in topo.queues.items():
        name = res.name(logical)
        dlq_url = await _ensure_queue(
            aws,
            res.dlq_name(name),
            {
                "MessageRetentionPeriod": str(q.dlq_retention_seconds),
                "SqsManagedSseEnabled": "true",
            },
        )
        dlq_arn = (
            await aws.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        )["Attributes"]["QueueArn"]
        url = await _ensure_queue(aws, name, queue_attributes(q, dlq_arn))
        queue_arn = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        await aws.sqs.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={
                "RedriveAllowPolicy": json.dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}
                )
            },
        )
        subscribed = sorted({topic_arns[s.topic] for s in q.subscriptions})
        await aws.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": queue_policy(queue_arn, subscribed)}
        )
        for sub in q.subscriptions:
            await _ensure_subscription(aws, topic_arns[sub.topic], queue_arn, sub.filter_policy)
    for logical, t in topo.tables.items():
        await _ensure_table(aws, res.name(logical), t)
    for logical, b in topo.buckets.items():
        await _ensure_bucket(aws, res.name(logical), b.versioning, list(b.lifecycle))
    # Local endpoints refuse mail from unverified senders; in AWS, Terraform owns the identity.
    await aws.ses.verify_email_identity(EmailAddress=aws.settings.lead_email_sender)
    log.info(
        "topology.bootstrapped",
        prefix=aws.settings.resource_prefix,
        queues=len(topo.queues),
        tables=len(topo.tables),
        buckets=len(topo.buckets),
    )
    return res
