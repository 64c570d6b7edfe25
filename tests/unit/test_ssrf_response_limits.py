"""An untrusted endpoint cannot make a shared worker hold much memory or wait for long."""

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.netguard import SafeHttp

BOMB = gzip.compress(b"\0" * 20_000_000)  # ~20 KB on the wire, 20 MB decompressed


class Hostile(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/bomb":
            self.send_response(200)
            self.send_header("content-encoding", "gzip")
            self.send_header("content-length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
        elif self.path == "/drip":  # one byte at a time, each well within a read timeout
            self.send_response(200)
            self.send_header("content-length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_compressed_body_is_capped_as_sent_not_after_expansion(hostile: str) -> None:
    http = SafeHttp(allow_private=True, timeout=5)
    try:
        resp, body = await http.request("POST", f"{hostile}/bomb", max_bytes=len(BOMB))
        assert resp.status_code == 200
        assert body == BOMB  # raw: never expanded to 20 MB
        with pytest.raises(PermanentError, match="exceeds 1024 bytes"):
            await http.request("POST", f"{hostile}/bomb", max_bytes=1024)
    finally:
        await http.aclose()


async def test_a_dripping_body_hits_one_overall_deadline(hostile: str) -> None:
    http = SafeHttp(allow_private=True, timeout=1)  # each byte arrives well within 1 s
    try:
        with pytest.raises(TransientError, match="timed out"):
            await http.request("POST", f"{hostile}/drip", max_bytes=1024)
    finally:
        await http.aclose()
