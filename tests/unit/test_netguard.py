import ipaddress

import pytest

from leadmagnet.common.netguard import UnsafeTargetError, address_problem, resolve_checked


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "private"),  # noqa: S104
        ("224.0.0.1", "not a public"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(ip: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(ip))
    assert found is not None
    assert problem in found


@pytest.mark.parametrize("ip", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(ip: str) -> None:
    assert address_problem(ipaddress.ip_address(ip)) is None


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
    assert await resolve_checked("http://127.0.0.1:9/x", allow_private=True) is None
    with pytest.raises(UnsafeTargetError):  # the scheme check still applies
        await resolve_checked("gopher://127.0.0.1/", allow_private=True)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fd00:ec2::254]/"])
async def test_metadata_service_is_refused_even_when_private_targets_are_allowed(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="metadata"):
        await resolve_checked(url, allow_private=True)
