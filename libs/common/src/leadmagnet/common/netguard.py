"""Outbound HTTP that cannot be pointed at our own network (SSRF guard).

Every outbound URL (webhooks, gate calls, attachment fetches) is checked on the addresses it
RESOLVES to, never on its spelling: numeric hosts are normalised with inet_aton semantics
(``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``, ``169.254.43518``, ``127.1`` all name
an IPv4 address), names go through getaddrinfo, and IPv6 addresses that embed an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``, Teredo) are checked on the embedded address too. The request then connects to the
checked address (the Host header and TLS SNI keep the original name), in both modes, so a DNS
answer cannot change between check and use. Redirects are never followed.

Two modes:
- strict (default): anything not globally routable is refused — loopback, private, link-local,
  CGNAT, unspecified, multicast, reserved, documentation...;
- ``ALLOW_PRIVATE_TARGETS=true`` (local development and tests only): loopback and private
  targets are allowed, but link-local (169.254.0.0/16, fe80::/10) and the cloud metadata
  addresses never are: that is where instance/task credentials live (EC2 IMDS 169.254.169.254
  and fd00:ec2::254, ECS task metadata and credentials 169.254.170.2, EKS pod identity
  169.254.170.23 / fd00:ec2::23, Alibaba 100.100.100.200).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from .errors import PermanentError, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # EC2 IMDS (also GCP, Azure, OCI)
        "fd00:ec2::254",  # EC2 IMDS over IPv6
        "169.254.170.2",  # ECS task metadata + task-role credentials (we run on Fargate)
        "169.254.170.23",  # EKS pod identity agent
        "fd00:ec2::23",
        "100.100.100.200",  # Alibaba Cloud metadata (inside CGNAT space)
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
# One inet_aton part: decimal, 0x-hex or 0-octal (validated by int() below).
_ATON_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class UnsafeTargetError(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsafe_target")


def parse_inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host names under BSD/glibc inet_aton rules, else None.

    1-4 parts, each decimal, ``0x`` hex or ``0`` octal; the last part fills the remaining
    bytes (``127.1`` = 127.0.0.1, ``169.254.43518`` = 169.254.169.254, ``2852039166`` =
    169.254.169.254). Done here, not by libc, so the answer never depends on a resolver.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_ATON_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for p in parts:
        try:
            if p[:2].lower() == "0x":
                values.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p[0] == "0":
                values.append(int(p, 8))
            else:
                values.append(int(p, 10))
        except ValueError:  # e.g. "09": not octal, and inet_aton refuses it too
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and may be routed to by a translator)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64 or ip in _IPV4_TRANSLATED:
        found.append(low32)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def address_problem(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why ``ip`` (or an IPv4 address embedded in it) must not be called, else None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket, nothing else
    for candidate in [*embedded_ipv4(ip), ip]:
        problem = _single_address_problem(candidate, allow_private=allow_private)
        if problem:
            return problem
    return None


def _single_address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:  # metadata services live here: refused in both modes
        return "a link-local address"
    if allow_private:
        return None
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


def check_url_syntax(url: str) -> tuple[str, str, int]:
    """Scheme/host/port of an acceptable URL, or UnsafeTargetError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTargetError(f"URL scheme must be http or https, not {parts.scheme!r}")
    if parts.username or parts.password:
        raise UnsafeTargetError("URL must not contain credentials")
    host = parts.hostname
    if not host:
        raise UnsafeTargetError("URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTargetError("URL port is invalid") from None
    return parts.scheme, host, port


def literal_address(host: str) -> IPAddress | None:
    """The address a numeric host spells (any inet_aton or IPv6 form), else None."""
    name = host.removesuffix(".")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return parse_inet_aton(name)


async def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to; numeric forms and localhost never touch a resolver."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    name = host.removesuffix(".").lower()
    if _ATON_PART.match(name.rsplit(".", 1)[-1]):
        # WHATWG URL rule: a numeric last label makes the host an IPv4 address or invalid —
        # never a name for a resolver to interpret its own way.
        raise UnsafeTargetError(f"host {host!r} is not a valid IPv4 address")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise TransientError(f"cannot resolve {host}: {getattr(e, 'strerror', e)}") from None
    # getaddrinfo may add a scope (fe80::1%eth0); the address is what we judge.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def resolve_checked(url: str, *, allow_private: bool) -> str:
    """The checked address to connect to (every resolved address must pass).

    Used at creation time (admin API) and again at connect time (SafeHttp). Raises
    UnsafeTargetError for refused targets, TransientError when DNS fails.
    """
    _, host, port = check_url_syntax(url)
    addresses = await resolve_addresses(host, port)
    if not addresses:
        raise TransientError(f"{host} has no addresses")
    for ip in addresses:
        problem = address_problem(ip, allow_private=allow_private)
        if problem:
            shown = "" if str(ip) == host else f" (= {ip})"
            raise UnsafeTargetError(f"refusing to call {host}{shown}: it resolves to {problem}")
    return str(addresses[0])


class SafeHttp:
    """One pooled client per process for outbound calls to untrusted URLs."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.client = httpx2.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    async def request(
        self,
        method: str,
        url: str,
        *,
        max_bytes: int,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request httpx timeout
    ) -> tuple[httpx2.Response, bytes]:
        """Send to the checked address; return the response and its raw body (at most
        ``max_bytes``, not decompressed: required, an untrusted server must not fill our
        memory)."""
        address = await resolve_checked(url, allow_private=self.allow_private)
        scheme, host, _ = check_url_syntax(url)
        parts = urlsplit(url)
        netloc = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc += f":{parts.port}"
        # Connect to the address we checked; the server still sees the name it was given.
        target = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
        hdrs = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        hdrs["host"] = parts.netloc
        # Counted as sent (aiter_raw): a compressed body cannot expand past max_bytes in memory.
        hdrs["accept-encoding"] = "identity"
        extensions: dict[str, Any] = {}
        if scheme == "https" and literal_address(host) is None:
            extensions["sni_hostname"] = host.removesuffix(".")
        # httpx timeouts are per phase (connect, each read): a server dripping its body a byte
        # at a time would never trip them, so the whole exchange also has one deadline.
        deadline = timeout if timeout is not None else self.timeout
        try:
            async with (
                asyncio.timeout(deadline),
                self.client.stream(
                    method,
                    target,
                    content=content,
                    headers=hdrs,
                    timeout=timeout if timeout is not None else httpx2.USE_CLIENT_DEFAULT,
                    extensions=extensions,
                ) as resp,
            ):
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PermanentError(f"response from {host} exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                return resp, b"".join(chunks)
        except (httpx2.TimeoutException, TimeoutError):
            raise TransientError(f"request to {host} timed out", code="timeout") from None
        except httpx2.TransportError as e:
            raise TransientError(f"request to {host} failed: {type(e).__name__}") from None

    async def aclose(self) -> None:
        await self.client.aclose()
