"""Issue 19 in a real browser: seed 002's own client — its upload flow (``POST
/api/upload/presigned`` → a direct PUT to S3 → ``POST /api/jobs/create``) and its
``useJobStatus`` hook's WebSocket handling, transcribed as written into a plain page — served
from a local HTTP server (an allowed origin of a ``product_marketing`` publishable key) and run
in Debian's Chromium (Playwright, never a downloaded browser) through a whole kit against the
five services. Screenshots land in ``test-output/<test>/``."""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.async_api import Browser, FilePayload, expect

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.gateway.publishable import publishable_store
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.kits import product_photo, sample_analysis, short_copy

pytestmark = [pytest.mark.integration, pytest.mark.browser]


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Genie (seed 002 client)</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  progress { width: 100%; height: 1.2rem; }
  #assets img { width: 180px; margin: .3rem; border: 1px solid #ccc; }
  #toast { color: #b00; }
</style></head>
<body>
  <h1>Product kit (seed 002's browser client)</h1>
  <input type="file" id="file" accept="image/jpeg,image/png,image/webp">
  <button id="go">Generate</button>
  <p>Status: <strong id="status">idle</strong> <span id="percent">0</span>%</p>
  <progress id="progress" max="100" value="0"></progress>
  <p id="toast" role="alert"></p>
  <ol id="messages"></ol>
  <section id="assets" hidden>
    <h2>Packages</h2><div id="packages"></div>
    <h2>Ads</h2><div id="ads"></div>
    <p><a id="content" href="#">content.json</a> · <a id="analysis" href="#">analysis.json</a></p>
  </section>
  <script src="config.js"></script>
  <script src="seed.js"></script>
</body></html>
"""

# The seed's client, in plain JavaScript. The upload flow follows "Upload Process" (client-side
# validation with the seed's UploadValidation, presigned URL, direct PUT, job creation); the only
# addition is the publishable key header where the seed's Next.js routes use its session.
# useJobStatus is the seed's hook with React's state setters turned into variables + render().
SEED_JS = r"""
const { API_URL, WS_URL, PUBLISHABLE_KEY } = window.CONFIG;
const UploadValidation = {
  maxSize: 10 * 1024 * 1024,
  allowedFormats: ['image/jpeg', 'image/png', 'image/webp'],
  minDimensions: { width: 800, height: 800 },
  maxDimensions: { width: 4096, height: 4096 },
};
window.__seen = [];   // every message, in order (what the test reads)
window.__state = { status: 'pending', progress: 0, result: null, jobId: null, closed: null };
const toast = { error: (text) => { document.getElementById('toast').textContent = text; } };

function render() {
  const s = window.__state;
  document.getElementById('status').textContent = s.status;
  document.getElementById('percent').textContent = String(Math.round(s.progress));
  document.getElementById('progress').value = s.progress;
  if (s.result) {
    const section = document.getElementById('assets');
    for (const [kind, urls] of [['packages', s.result.packages], ['ads', s.result.ads]]) {
      const box = document.getElementById(kind);
      box.replaceChildren(...urls.map((url) => {
        const img = document.createElement('img');
        img.src = url; img.alt = kind;
        return img;
      }));
    }
    document.getElementById('content').href = s.result.content;
    document.getElementById('analysis').href = s.result.analysis;
    section.hidden = false;
  }
}

// app/hooks/useJobStatus.ts
function useJobStatus(jobId) {
  const setStatus = (v) => { window.__state.status = v; };
  const setProgress = (v) => { window.__state.progress = v; };
  const setResult = (v) => { window.__state.result = v; };

  const ws = new WebSocket(`${WS_URL}?jobId=${jobId}`);

  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    window.__seen.push(message);
    const li = document.createElement('li');
    li.textContent = message.type;
    document.getElementById('messages').append(li);

    switch (message.type) {
      case 'job.analyzing':
        setStatus('analyzing');
        setProgress(message.payload.progress);
        break;
      case 'job.generating':
        setStatus('generating');
        setProgress(50 + message.payload.progress / 2);
        break;
      case 'job.complete':
        setStatus('complete');
        setProgress(100);
        setResult(message.payload.assets);
        break;
      case 'job.error':
        setStatus('error');
        toast.error(message.payload.error);
        break;
    }
    window.__seen[window.__seen.length - 1].shownProgress = window.__state.progress;
    render();
  };
  ws.onclose = (event) => { window.__state.closed = event.code; };

  return () => ws.close();
}

async function dimensions(file) {
  const bitmap = await createImageBitmap(file);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

async function validate(file) {
  const v = UploadValidation;
  if (file.size > v.maxSize) throw new Error('file too large');
  if (!v.allowedFormats.includes(file.type)) throw new Error('unsupported format');
  const { width, height } = await dimensions(file);
  const min = v.minDimensions, max = v.maxDimensions;
  if (width < min.width || height < min.height) throw new Error('too small');
  if (width > max.width || height > max.height) throw new Error('too big');
}

async function api(path, body) {
  const res = await fetch(`${API_URL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PUBLISHABLE_KEY}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

document.getElementById('go').addEventListener('click', async () => {
  try {
    const file = document.getElementById('file').files[0];
    await validate(file);                                           // 1. pre-flight check
    const { url, key } = await api('/api/upload/presigned', {        // 2. presigned URL
      filename: file.name, contentType: file.type, fileSize: file.size,
    });
    const put = await fetch(url, {                                  // 3. direct S3 upload
      method: 'PUT', headers: { 'Content-Type': file.type }, body: file,
    });
    if (!put.ok) throw new Error(`upload: ${put.status}`);
    const { jobId } = await api('/api/jobs/create', { s3Key: key }); // 4. job creation
    window.__state.jobId = jobId;
    useJobStatus(jobId);
  } catch (err) {
    window.__state.status = 'error';
    toast.error(String(err.message || err));
    render();
  }
});
"""

ANALYSIS_TONE = "upbeat-{marker}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static server on 127.0.0.1 for the seed client's page: (origin, its directory)."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_seed_client_uploads_creates_and_follows_a_kit_over_the_websocket(
    stack: ServiceStack,
    demo: Demo,
    platform: Platform,
    browser: Browser,
    fake_llm: FakeLLMServer,
    page_server: tuple[str, Path],
    output_dir: Path,
) -> None:
    origin, root = page_server
    pk, _ = await publishable_store(platform).create(
        demo.tenant_id,
        flow="product_marketing",
        allowed_origins=[origin],
        channel=None,
        rate_limit_per_minute=60,
        label="seed 002 browser test",
    )
    ws_url = stack.gateway_url.replace("http://", "ws://", 1) + "/ws"
    config = {"API_URL": stack.gateway_url, "WS_URL": ws_url, "PUBLISHABLE_KEY": pk}
    (root / "index.html").write_text(PAGE)
    (root / "seed.js").write_text(SEED_JS)
    (root / "config.js").write_text(f"window.CONFIG = {json.dumps(config)};\n")

    marker = secrets.token_hex(5)
    filename = f"can-{marker}.png"
    tone = ANALYSIS_TONE.format(marker=marker)  # the copy request quotes it: its rule's match
    fake_llm.add_rule(match=filename, reply={"json": sample_analysis(tone=tone)})
    fake_llm.add_rule(match=tone, reply={"json": short_copy()})

    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(f"{origin}/index.html")
    upload: FilePayload = {"name": filename, "mimeType": "image/png", "buffer": product_photo()}
    await page.set_input_files("#file", files=[upload])
    await page.click("#go")

    await page.wait_for_function(
        "() => ['analyzing', 'generating', 'complete'].includes(window.__state.status)",
        timeout=60_000,
    )
    await page.screenshot(path=str(output_dir / "seed-client-progress.png"), full_page=True)
    await expect(page.locator("#status")).to_have_text("complete", timeout=120_000)
    await expect(page.locator("#percent")).to_have_text("100")
    seen: list[dict[str, Any]] = await page.evaluate("window.__seen")
    state: dict[str, Any] = await page.evaluate("window.__state")
    job_id = state["jobId"]
    assert sockets == [f"{ws_url}?jobId={job_id}"]  # the hook's URL, as written
    types = [m["type"] for m in seen]
    assert types[0] == "job.created"
    assert types[-1] == "job.complete"
    for expected in ("job.analyzing", "job.analysis_complete", "job.generating"):
        assert expected in types, types
    order = [types.index(t) for t in ("job.created", "job.analyzing", "job.analysis_complete")]
    assert order == sorted(order)
    assert types.index("job.analysis_complete") < types.index("job.generating")
    assert "job.error" not in types
    assert [m["seq"] for m in seen] == sorted({m["seq"] for m in seen})  # each once, in order
    assert all(m["payload"]["jobId"] == job_id for m in seen)
    shown = [m["shownProgress"] for m in seen]
    assert shown == sorted(shown), shown  # the hook's bar never goes backwards
    analysed = next(m for m in seen if m["type"] == "job.analysis_complete")
    assert analysed["payload"]["analysis"]["visual"]["dominantColors"][0]["hex"] == "#FF6B35"
    generating = [m for m in seen if m["type"] == "job.generating"]
    assert {m["payload"]["stage"] for m in generating} == {"copy", "images"}

    assets = seen[-1]["payload"]["assets"]
    assert len(assets["packages"]) == 3
    assert len(assets["ads"]) == 3  # facebook, instagram, google (default platforms)
    await expect(page.locator("#packages img")).to_have_count(3)
    await expect(page.locator("#ads img")).to_have_count(3)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#assets img')].every(i => i.complete)"
    )
    widths = await page.eval_on_selector_all("#assets img", "imgs => imgs.map(i => i.naturalWidth)")
    assert all(w > 0 for w in widths), widths  # every asset URL loads in the browser
    async with httpx2.AsyncClient(timeout=30) as client:
        for url in (assets["analysis"], *assets["thumbnails"].values()):
            got = await client.get(url)
            assert got.status_code == 200, url
        content = await client.get(assets["content"])
    assert content.status_code == 200
    assert content.json()["adCopy"]["googleAdsHeadline"] == "New"
    await page.wait_for_function("() => window.__state.closed !== null")
    assert await page.evaluate("window.__state.closed") == 1000  # closed after job.complete
    await expect(page.locator("#toast")).to_have_text("")
    await page.screenshot(path=str(output_dir / "seed-client-complete.png"), full_page=True)
    assert errors == []
