import ipaddress

import pytest

from leadmagnet.common.netguard import (
    SafeHttp,
    UnsafeTargetError,
    address_problem,
    parse_inet_aton,
    resolve_checked,
)
from leadmagnet.testing.webhook_receiver import WebhookReceiver


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("224.0.0.1", "not a public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64
        ("2002:a9fe:a9fe::", "metadata"),  # 6to4
        ("::a9fe:a9fe", "metadata"),  # IPv4-compatible
    ],
)
def test_non_public_addresses_are_refused(ip: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(ip))
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "ip", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(ip: str) -> None:
    assert address_problem(ipaddress.ip_address(ip)) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("169.16689662", "169.254.169.254"),
        ("0XA9FEA9FE", "169.254.169.254"),
        ("0", "0.0.0.0"),  # noqa: S104
        ("0x", "0.0.0.0"),  # noqa: S104 - glibc accepts a bare 0x as 0
        ("09.1.1.1", None),  # 09 is not octal
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("127.0.0.0x100", None),
        ("4294967296", None),
        ("example.com", None),
    ],
)
def test_inet_aton_semantics(spelling: str, address: str | None) -> None:
    parsed = parse_inet_aton(spelling)
    assert (str(parsed) if parsed else None) == address


# Every spelling of a non-public address, with the address it names and its kind.
# Kinds: metadata and link-local are refused in both modes; loopback/private/unspecified/cgnat/
# multicast only in strict mode; public is allowed in both; invalid (a numeric host that is no
# valid address) is refused in both.
SPELLINGS = [
    # loopback
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("127.1", "127.0.0.1", "loopback"),
    ("127.0.1", "127.0.0.1", "loopback"),
    ("0x7f.1", "127.0.0.1", "loopback"),
    ("0X7F.0X0.0X0.0X1", "127.0.0.1", "loopback"),
    ("0x7F000001", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("017700000001", "127.0.0.1", "loopback"),
    ("0177.0.0.1", "127.0.0.1", "loopback"),
    ("0177.0000.0000.0001", "127.0.0.1", "loopback"),
    ("127.000.000.001", "127.0.0.1", "loopback"),
    ("127.255.255.254", "127.255.255.254", "loopback"),
    ("127.0.0.1.", "127.0.0.1", "loopback"),
    ("[::1]", "::1", "loopback"),
    ("[0:0:0:0:0:0:0:1]", "::1", "loopback"),
    ("[0000::0001]", "::1", "loopback"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1", "loopback"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1", "loopback"),
    ("[::FFFF:7F00:1]", "::ffff:7f00:1", "loopback"),
    ("[::127.0.0.1]", "::7f00:1", "loopback"),
    ("[64:ff9b::127.0.0.1]", "64:ff9b::7f00:1", "loopback"),
    ("[2002:7f00:1::]", "2002:7f00:1::", "loopback"),
    ("localhost", "127.0.0.1", "loopback"),
    ("localhost.", "127.0.0.1", "loopback"),
    ("LOCALHOST", "127.0.0.1", "loopback"),
    ("api.localhost", "127.0.0.1", "loopback"),
    # private
    ("10.0.0.1", "10.0.0.1", "private"),
    ("10.1", "10.0.0.1", "private"),
    ("0xa.0.0.1", "10.0.0.1", "private"),
    ("012.0.0.1", "10.0.0.1", "private"),
    ("167772161", "10.0.0.1", "private"),
    ("172.16.0.1", "172.16.0.1", "private"),
    ("192.168.1.1", "192.168.1.1", "private"),
    ("192.168.257", "192.168.1.1", "private"),
    ("0xc0a80101", "192.168.1.1", "private"),
    ("3232235777", "192.168.1.1", "private"),
    ("[fd00::1]", "fd00::1", "private"),
    ("[::ffff:10.0.0.1]", "::ffff:a00:1", "private"),
    ("[::ffff:c0a8:101]", "::ffff:c0a8:101", "private"),
    # link-local
    ("169.254.1.1", "169.254.1.1", "link-local"),
    ("0xa9fe0101", "169.254.1.1", "link-local"),
    ("[fe80::1]", "fe80::1", "link-local"),
    ("[::ffff:169.254.1.1]", "::ffff:a9fe:101", "link-local"),
    # cloud metadata
    ("169.254.169.254", "169.254.169.254", "metadata"),
    ("169.254.169.254.", "169.254.169.254", "metadata"),
    ("2852039166", "169.254.169.254", "metadata"),
    ("0xa9fea9fe", "169.254.169.254", "metadata"),
    ("0xA9FEA9FE", "169.254.169.254", "metadata"),
    ("0251.0376.0251.0376", "169.254.169.254", "metadata"),
    ("0251.254.169.254", "169.254.169.254", "metadata"),
    ("00000251.0376.00251.0376", "169.254.169.254", "metadata"),
    ("169.254.43518", "169.254.169.254", "metadata"),
    ("169.16689662", "169.254.169.254", "metadata"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254", "metadata"),
    ("[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe", "metadata"),
    ("[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe", "metadata"),
    ("[::169.254.169.254]", "::a9fe:a9fe", "metadata"),
    ("[64:ff9b::169.254.169.254]", "64:ff9b::a9fe:a9fe", "metadata"),
    ("[2002:a9fe:a9fe::1]", "2002:a9fe:a9fe::1", "metadata"),
    ("[fd00:ec2::254]", "fd00:ec2::254", "metadata"),
    ("[FD00:EC2:0:0:0:0:0:254]", "fd00:ec2::254", "metadata"),
    ("169.254.170.2", "169.254.170.2", "metadata"),  # ECS task credentials
    ("0xa9feaa02", "169.254.170.2", "metadata"),
    ("100.100.100.200", "100.100.100.200", "metadata"),
    # unspecified
    ("0.0.0.0", "0.0.0.0", "unspecified"),  # noqa: S104
    ("0", "0.0.0.0", "unspecified"),  # noqa: S104
    ("0x0", "0.0.0.0", "unspecified"),  # noqa: S104
    ("000.000.000.000", "0.0.0.0", "unspecified"),  # noqa: S104
    ("[::]", "::", "unspecified"),
    # CGNAT, multicast, reserved
    ("100.64.0.1", "100.64.0.1", "cgnat"),
    ("1681915905", "100.64.0.1", "cgnat"),
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("[ff02::1]", "ff02::1", "multicast"),
    ("240.0.0.1", "240.0.0.1", "reserved"),
    ("255.255.255.255", "255.255.255.255", "reserved"),
    # invalid numeric hosts: never handed to a resolver
    ("09.1.1.1", None, "invalid"),
    ("256.1.1.1", None, "invalid"),
    ("1.2.3.4.5", None, "invalid"),
    ("4294967296", None, "invalid"),
    ("example.0x7f", None, "invalid"),
    # public, in odd spellings too
    ("8.8.8.8", "8.8.8.8", "public"),
    ("134744072", "8.8.8.8", "public"),
    ("0x8080808", "8.8.8.8", "public"),
    ("010.010.010.010", "8.8.8.8", "public"),
    ("[::ffff:8.8.8.8]", "::ffff:808:808", "public"),
    ("[2606:4700:4700::1111]", "2606:4700:4700::1111", "public"),
]
REFUSED_EVEN_WHEN_PRIVATE_ALLOWED = {"metadata", "link-local", "invalid"}


@pytest.mark.parametrize("allow_private", [False, True], ids=["strict", "allow_private"])
@pytest.mark.parametrize(("spelling", "address", "kind"), SPELLINGS)
async def test_every_spelling_is_judged_on_its_address(
    spelling: str, address: str | None, kind: str, allow_private: bool
) -> None:
    url = f"http://{spelling}:8080/hook"
    refused = kind in REFUSED_EVEN_WHEN_PRIVATE_ALLOWED or (not allow_private and kind != "public")
    if refused:
        with pytest.raises(UnsafeTargetError) as info:
            await resolve_checked(url, allow_private=allow_private)
        if kind in ("metadata", "link-local", "loopback", "private", "unspecified"):
            assert kind.replace("metadata", "cloud metadata") in info.value.message
    else:
        assert await resolve_checked(url, allow_private=allow_private) == address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::1]/x",
        "http://10.0.0.5/x",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pass@example.com/",
    ],
)
async def test_unsafe_urls_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(UnsafeTargetError):
        await resolve_checked(url, allow_private=False)


async def test_private_targets_can_be_allowed_for_local_development() -> None:
    assert await resolve_checked("http://127.0.0.1:9/x", allow_private=True) == "127.0.0.1"
    with pytest.raises(UnsafeTargetError):  # the scheme check still applies
        await resolve_checked("gopher://127.0.0.1/", allow_private=True)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fd00:ec2::254]/"])
async def test_metadata_service_is_refused_even_when_private_targets_are_allowed(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="metadata"):
        await resolve_checked(url, allow_private=True)


# ``localhost.`` and ``api.localhost`` are loopback to us (RFC 6761) but unknown to this
# machine's resolver: the request can only arrive if it connects to the checked address.
@pytest.mark.parametrize("host", ["0x7f.1", "2130706433", "localhost.", "api.localhost"])
async def test_requests_connect_to_the_checked_address_and_keep_the_host_header(
    host: str,
) -> None:
    http = SafeHttp(allow_private=True, timeout=5)
    try:
        with WebhookReceiver() as hook:
            port = hook.server.server_address[1]
            resp, _ = await http.request(
                "POST", f"http://{host}:{port}/hooks?x=1", content=b"{}", max_bytes=1024
            )
            assert resp.status_code == 204
            (delivery,) = hook.deliveries
            assert delivery.path == "/hooks?x=1"
            assert delivery.headers["host"] == f"{host}:{port}"
    finally:
        await http.aclose()


async def test_strict_mode_refuses_before_connecting() -> None:
    http = SafeHttp(allow_private=False, timeout=5)
    try:
        with WebhookReceiver() as hook:
            port = hook.server.server_address[1]
            with pytest.raises(UnsafeTargetError, match="loopback"):
                await http.request("POST", f"http://0x7f.1:{port}/hooks", max_bytes=1024)
            assert hook.deliveries == []
    finally:
        await http.aclose()
