"""The embedded AWS endpoint (moto server) that ``make run``, the tests and the benchmarks use.

moto's DynamoDB backend reads, changes and writes an item without a lock, so two concurrent
``UpdateItem`` calls on one item can both pass a condition or lose one of two ``ADD``s — which
real DynamoDB never does, and which our conditional writes rely on. Every item operation of the
backend is therefore serialised here (one lock; moto serves from one Python process anyway).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

ITEM_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
_lock = threading.RLock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Give moto's DynamoDB the per-request atomicity of the real service (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(serialised))
    _patched = True


def start_moto(port: int) -> tuple[str, object]:
    import logging

    from moto.server import ThreadedMotoServer

    make_dynamodb_atomic()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return f"http://127.0.0.1:{port}", server
