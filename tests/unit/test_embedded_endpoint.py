"""The embedded AWS endpoint as the benchmarks and tests use it: it keeps HTTP/1.1 connections
open as AWS does (werkzeug's server alone closes every one), and it attributes each call to the
service whose SDK made it (the ``leadmagnet/<service>`` User-Agent tag)."""

from __future__ import annotations

import http.client
import io
from urllib.parse import urlsplit

from leadmagnet.testing.moto_server import HARNESS, AwsCallCounter

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def test_one_connection_serves_several_calls(aws_endpoint: str) -> None:
    url = urlsplit(aws_endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
    try:
        for _ in range(3):
            conn.request(
                "POST",
                "/",
                body="Action=ListQueues",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": SIGNED,
                },
            )
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            assert resp.getheader("Connection") != "close"
            assert not resp.will_close  # the next request goes over the same socket
    finally:
        conn.close()


def environ(user_agent: str | None) -> dict[str, object]:
    env: dict[str, object] = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem",
        "HTTP_AUTHORIZATION": (
            "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request"
        ),
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    if user_agent is not None:
        env["HTTP_USER_AGENT"] = user_agent
    return env


def test_calls_are_attributed_to_the_service_in_the_user_agent() -> None:
    counter = AwsCallCounter()
    counter.record(environ("aiobotocore/2 md/x leadmagnet/reporter"), b"{}")
    counter.record(environ("aiobotocore/2 leadmagnet/reporter"), b"{}")
    counter.record(environ(None), b"{}")
    calls, _, _ = counter.caller_snapshot()
    assert calls[("reporter", "dynamodb", "GetItem")] == 2
    assert calls[(HARNESS, "dynamodb", "GetItem")] == 1
    assert counter.snapshot()[0][("dynamodb", "GetItem")] == 3
