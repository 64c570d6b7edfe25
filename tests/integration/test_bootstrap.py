from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.resources import Resources
from leadmagnet.common.topology import load_topology


async def test_bootstrap_is_idempotent_and_creates_everything(aws: AwsClients) -> None:
    await bootstrap(aws)  # second run (the fixture ran the first) must converge, not fail
    res = Resources(aws)
    topo = load_topology()
    for logical in topo.queues:
        assert (await res.queue_url(logical)).endswith(res.name(logical))
        assert (await res.queue_url(logical, dlq=True)).endswith(res.name(logical) + "-dlq")
    tables = (await aws.dynamodb.list_tables())["TableNames"]
    assert {res.name(t) for t in topo.tables} <= set(tables)
    arn = await res.topic_arn()
    subs = (await aws.sns.list_subscriptions_by_topic(TopicArn=arn))["Subscriptions"]
    assert len(subs) == sum(1 for q in topo.queues.values() if q.subscriptions)
