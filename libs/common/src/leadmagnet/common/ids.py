"""Identifiers. Job ids are capability links, so they carry well over 128 bits of randomness."""

from __future__ import annotations

import hashlib
import secrets


def random_id(prefix: str, nbytes: int = 18) -> str:
    """``{prefix}_{urlsafe random}``; 18 bytes = 144 bits."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def stable_id(prefix: str, *parts: str) -> str:
    """Deterministic id from its parts: a redone stage overwrites instead of duplicating."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def new_job_id() -> str:
    return random_id("job")
