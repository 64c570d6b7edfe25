"""Subscribe a fresh SQS queue to the events topic, as another system would (tests, benchmarks)."""

from __future__ import annotations

import json
import secrets

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.platform import Platform


async def external_subscriber(
    aws: AwsClients, platform: Platform, *, event_type: str, tenant_id: str, name: str = "ext"
) -> str:
    """A new queue receiving ``event_type`` events of one tenant (raw delivery); its URL."""
    url: str = (await aws.sqs.create_queue(QueueName=f"{name}-{secrets.token_hex(4)}"))["QueueUrl"]
    arn = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await aws.sns.subscribe(
        TopicArn=await platform.resources.topic_arn(),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"type": [event_type], "tenant_id": [tenant_id]}),
        },
    )
    return url
