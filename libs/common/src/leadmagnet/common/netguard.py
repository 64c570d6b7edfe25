"""Outbound HTTP that cannot be pointed at our own network (SSRF guard).

Every outbound URL (webhooks, callbacks' side calls, attachment fetches) is resolved once, every
address is checked (loopback, private, link-local, metadata, CGNAT, multicast, reserved: anything
not globally routable is refused), and the request then connects to the checked address — so a DNS
answer cannot change between check and use. Redirects are never followed.
``ALLOW_PRIVATE_TARGETS=true`` (local development and tests only) lifts the address check.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from .errors import PermanentError, TransientError

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class UnsafeTargetError(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsafe_target")


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
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


async def resolve_checked(url: str, *, allow_private: bool) -> str | None:
    """The address to connect to (None = connect by name, only when private targets are allowed).

    Raises UnsafeTargetError for refused targets, TransientError when DNS fails.
    """
    _, host, port = check_url_syntax(url)
    if allow_private:
        # Local development may call loopback/private hosts, never the cloud metadata service.
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host) in METADATA_ADDRESSES:
                raise UnsafeTargetError(f"refusing to call {host}: a cloud metadata address")
        return None
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as e:
            raise TransientError(f"cannot resolve {host}: {e.strerror}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise TransientError(f"{host} has no addresses")
    for ip in addresses:
        problem = address_problem(ip)
        if problem:
            raise UnsafeTargetError(f"refusing to call {host}: it resolves to {problem}")
    return str(addresses[0])


class SafeHttp:
    """One pooled client per process for outbound calls to untrusted URLs."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.client = httpx2.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request httpx timeout
        max_bytes: int | None = None,
    ) -> tuple[httpx2.Response, bytes]:
        """Send; return the response and (up to ``max_bytes`` of) its body."""
        address = await resolve_checked(url, allow_private=self.allow_private)
        scheme, host, port = check_url_syntax(url)
        parts = urlsplit(url)
        target = url
        hdrs = dict(headers or {})
        extensions: dict[str, Any] = {}
        if address is not None:
            netloc = f"[{address}]" if ":" in address else address
            if parts.port:
                netloc += f":{parts.port}"
            target = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
            hdrs["host"] = host if not parts.port else f"{host}:{port}"
            if scheme == "https":
                extensions["sni_hostname"] = host
        try:
            async with self.client.stream(
                method,
                target,
                content=content,
                headers=hdrs,
                timeout=timeout if timeout is not None else httpx2.USE_CLIENT_DEFAULT,
                extensions=extensions,
            ) as resp:
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PermanentError(f"response from {host} exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                return resp, b"".join(chunks)
        except httpx2.TimeoutException:
            raise TransientError(f"request to {host} timed out", code="timeout") from None
        except httpx2.TransportError as e:
            raise TransientError(f"request to {host} failed: {type(e).__name__}") from None

    async def aclose(self) -> None:
        await self.client.aclose()
