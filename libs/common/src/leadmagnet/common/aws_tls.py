"""One TLS context per process for every AWS client, instead of one per client.

aiobotocore builds an ``ssl.SSLContext`` for each client's HTTP session on its first request,
and loads the CA bundle into it: about a quarter of a second of CPU and a few hundred KiB each,
paid again by every client of every service in the process (six or seven of them). A context is
meant to be shared (it holds settings and trust roots, not connection state), and our clients all
verify the same way, so the first one builds it and the others reuse it. Sessions with a proxy or
other verify settings (a CA bundle path, a client certificate) each get the context those
settings build, cached the same way.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

from aiobotocore.httpsession import AIOHTTPSession

_contexts: dict[tuple[object, str | None, str | None], ssl.SSLContext] = {}
_building = threading.Lock()  # built in a worker thread (aiobotocore keeps file I/O off the loop)


class SharedTlsSession(AIOHTTPSession):  # type: ignore[misc]  # an untyped base
    """aiobotocore's session, with its TLS context built once per set of verify settings."""

    def _build_ssl_contexts(self, proxy_url: str | None) -> tuple[Any, Any]:
        if proxy_url:  # the proxy's own context depends on its settings: not shared
            contexts: tuple[Any, Any] = super()._build_ssl_contexts(proxy_url)
            return contexts
        key = (self._verify, self._cert_file, self._key_file)
        with _building:
            context = _contexts.get(key)
            if context is None:
                context, _ = super()._build_ssl_contexts(None)
                _contexts[key] = context
        return context, None
