"""The security headers of every response, in one place (the request middleware applies them).

HTML gets a strict Content-Security-Policy: pages rendered from templates pass a per-response
nonce for their one inline style block; any other HTML (error pages, /docs, the SMS-link pages)
gets the same policy without a nonce, so nothing inline runs or styles anywhere."""

from __future__ import annotations

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def content_security_policy(nonce: str | None = None) -> str:
    """The pages' policy. ``nonce`` allows the one ``<style nonce=…>`` block of a page."""
    style = f"style-src 'self' 'nonce-{nonce}'" if nonce else "style-src 'self'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            style,
            "img-src 'self' data: https: http:",
            "connect-src 'self'",
            # the finished lead magnet lives on the artifact host (CDN or presigned S3)
            "frame-src https: http:",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )


def is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the security headers it does not set itself; HTML without a policy gets
    the strict default one."""
    present = {k.lower() for k, _ in headers}
    extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
    if b"content-security-policy" not in present and is_html(headers):
        extra.append((b"content-security-policy", content_security_policy().encode()))
    return [*headers, *extra]
