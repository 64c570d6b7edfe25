"""``AwsClients(lazy=True)`` (the services' Platform): a client exists once something calls it,
and then it is the same client an eager AwsClients would have made."""

from __future__ import annotations

import asyncio

import pytest

from leadmagnet.common.aws import LOCAL_CREDENTIALS, AwsClients, LazyClient
from leadmagnet.common.settings import Settings

pytestmark = pytest.mark.usefixtures("isolated_aws_env")


async def _presign(aws: AwsClients) -> str:
    # An operation that needs no endpoint: the client is made, nothing is sent.
    url: str = await aws.s3.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60
    )
    return url


async def test_a_lazy_client_is_created_by_its_first_call_and_only_that_one() -> None:
    async with AwsClients(Settings(), lazy=True) as aws:
        assert isinstance(aws.s3, LazyClient)
        assert "/b/k?" in await _presign(aws)
        s3 = await aws.client("s3")
        assert aws.s3 is s3
        assert s3.meta.service_model.service_name == "s3"
        assert isinstance(aws.sqs, LazyClient)  # never called: never made


async def test_sync_attributes_of_a_client_not_made_yet_say_how_to_make_it() -> None:
    async with AwsClients(Settings(), lazy=True) as aws:
        with pytest.raises(RuntimeError, match=r"await aws.client\('sns'\)"):
            aws.sns.get_paginator("list_topics")
        paginator = (await aws.client("sns")).get_paginator("list_topics")
        assert paginator is not None
        assert aws.sns.get_paginator("list_topics") is not None


async def test_concurrent_first_uses_share_one_client() -> None:
    async with AwsClients(Settings(), lazy=True) as aws:
        first, second = await asyncio.gather(aws.client("sqs"), aws.client("sqs"))
        assert first is second


async def test_eager_clients_exist_on_entry() -> None:
    async with AwsClients(Settings()) as aws:
        assert not isinstance(aws.ses, LazyClient)
        assert aws.ses is await aws.client("ses")


async def test_clients_are_unusable_outside_async_with() -> None:
    aws = AwsClients(Settings(), lazy=True)
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        _ = aws.sqs
    async with aws:
        await _presign(aws)
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await aws.client("sqs")


async def test_a_lazy_local_client_gets_the_dummy_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    async with AwsClients(Settings(), lazy=True) as aws:
        client = await aws.client("dynamodb")
        creds = client._request_signer._credentials
        assert creds.access_key == LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]
