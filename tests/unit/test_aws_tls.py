"""Every AWS client of a process verifies TLS with one shared context (aiobotocore would build
and load the CA bundle into one per client), and other verify settings keep their own."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiobotocore.httpsession import AIOHTTPSession

from leadmagnet.common import aws_tls
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.aws_tls import SharedTlsSession
from leadmagnet.common.settings import Settings
from leadmagnet.testing.moto_server import moto_server


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """A fresh process-wide cache, and the verify contexts aiobotocore builds from now on."""
    monkeypatch.setattr(aws_tls, "_contexts", {})
    built: list[object] = []
    original = AIOHTTPSession._build_verify_context

    def counted(self: Any) -> Any:
        context = original(self)
        built.append(context)
        return context

    monkeypatch.setattr(AIOHTTPSession, "_build_verify_context", counted)
    return built


def _tls_context(client: Any) -> Any:
    """The context the client's connection pool wraps its sockets with."""
    return client._endpoint.http_session._sessions[None].connector._ssl


@pytest.mark.usefixtures("isolated_aws_env")
async def test_the_clients_of_a_process_share_one_verifying_context(
    builds: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        async with AwsClients(Settings(), lazy=True) as first, AwsClients(Settings()) as second:
            await first.sqs.list_queues()
            await first.dynamodb.list_tables()
            await first.s3.list_buckets()
            await second.sns.list_topics()
            contexts = [
                _tls_context(await first.client("sqs")),
                _tls_context(await first.client("dynamodb")),
                _tls_context(await first.client("s3")),
                _tls_context(await second.client("sns")),
            ]
    assert len(builds) == 1
    assert all(context is builds[0] for context in contexts)
    shared = contexts[0]
    assert isinstance(shared, ssl.SSLContext)
    assert shared.verify_mode is ssl.CERT_REQUIRED
    assert shared.check_hostname
    assert shared.cert_store_stats()["x509_ca"] > 0  # the SDK's CA bundle is loaded


def test_other_verify_settings_get_the_context_they_build(builds: list[object]) -> None:
    verifying, _ = SharedTlsSession(verify=True)._build_ssl_contexts(None)
    unverified, _ = SharedTlsSession(verify=False)._build_ssl_contexts(None)
    again, _ = SharedTlsSession(verify=False)._build_ssl_contexts(None)
    assert unverified is again
    assert unverified is not verifying
    assert unverified.verify_mode is ssl.CERT_NONE
    assert not unverified.check_hostname
    assert len(builds) == 2


def test_a_proxied_session_builds_its_own_contexts(builds: list[object]) -> None:
    proxy = "http://127.0.0.1:9"
    session = SharedTlsSession(proxies={"https": proxy})
    first, first_proxy = session._build_ssl_contexts(proxy)
    second, _ = session._build_ssl_contexts(proxy)
    assert first is not second
    assert first_proxy is not None
