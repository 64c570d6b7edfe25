"""The real type of uploaded bytes, from their signature (never the client's word)."""

from __future__ import annotations

SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
    (b"%PDF-", 0, "application/pdf", "pdf"),
)


def sniff(data: bytes) -> tuple[str, str] | None:
    """(media type, extension) of a known format, else None."""
    for magic, offset, media, ext in SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return media, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None
