"""A local server speaking the OpenAI (Responses, Chat Completions, Images) and Anthropic
(Messages) wire formats, so the official SDKs are tested for real, offline.

Scripting works over HTTP (service processes and benchmarks use it too):
  POST   /_control/rules   {"match": "substring of the request body", "times": 1,
                            "reply": {"status": 500, "headers": {...}, "body_json": {...}
                                      | "body_text": "raw" | "text": "assistant text"
                                      | "json": {...structured answer...},
                                      "usage": {...overrides...}, "delay_seconds": 2}}
  DELETE /_control/rules   drop all rules
  POST   /_control/config  {"delay_seconds": 2}  a default delay for every request
  GET    /_control/stats   {"total", "current", "max_concurrent", "requests": [...]} (each
                            request: path, model, body[:4000], at, ended_at)
  POST   /_control/reset   rules, stats and config back to defaults
  PUT    /_control/chatkit/threads/{id}   items served at GET /v1/chatkit/threads/{id}/items
Run standalone: ``python -m leadmagnet.testing.fake_llm --port 8765``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import time
import uuid
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .scripted_server import (
    ControlClient,
    ScriptedState,
    ThreadedServer,
    control_routes,
    serve_main,
)


class _State(ScriptedState):
    def reset(self) -> None:
        super().reset()
        self.current = 0
        self.max_concurrent = 0
        self.delay_seconds = 0.0
        self.chatkit_threads: dict[str, list[dict[str, Any]]] = {}

    def stats(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "current": self.current,
            "max_concurrent": self.max_concurrent,
            "requests": self.requests,
        }


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _default_text(body: str) -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()[:8]
    return (
        f"# Report {digest}\n\nA generated report from the local wire-format server.\n\n"
        "## Recommendations\n\n- First, focus.\n- Second, measure.\n"
    )


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


def _openai_response(model: str, text: str, body: str, usage: dict[str, Any]) -> dict[str, Any]:
    input_tokens = usage.get("input_tokens", _tokens(body))
    output_tokens = usage.get("output_tokens", _tokens(text))
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": usage.get("cached_tokens", 0)},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.get("reasoning_tokens", 0)},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def _chat_response(model: str, text: str, body: str, usage: dict[str, Any]) -> dict[str, Any]:
    prompt = usage.get("input_tokens", _tokens(body))
    completion = usage.get("output_tokens", _tokens(text))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _anthropic_response(model: str, text: str, body: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("input_tokens", _tokens(body)),
            "output_tokens": usage.get("output_tokens", _tokens(text)),
            "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
            "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
        },
    }


def build_app(state: _State) -> Starlette:
    async def generate(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        path = request.url.path
        state.current += 1
        state.max_concurrent = max(state.max_concurrent, state.current)
        record: dict[str, Any] = {
            "path": path,
            "model": payload.get("model"),
            "body": raw[:4000],
            "at": time.time(),
        }
        state.record(record)
        try:
            reply = state.take_rule(raw) or {}
            delay = float(reply.get("delay_seconds", state.delay_seconds))
            if delay:
                await asyncio.sleep(delay)
            headers = {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"}
            headers["request-id"] = headers["x-request-id"]
            headers.update(reply.get("headers", {}))
            status = int(reply.get("status", 200))
            if "body_text" in reply:
                return Response(reply["body_text"], status, headers, media_type="application/json")
            if "body_json" in reply:
                return JSONResponse(reply["body_json"], status, headers)
            model = str(payload.get("model", "unknown"))
            if "json" in reply:
                text = json.dumps(reply["json"])
            else:
                text = str(reply.get("text", _default_text(raw)))
            usage = dict(reply.get("usage", {}))
            if path.endswith("/images/generations"):
                w, h = (int(v) for v in str(payload.get("size", "1024x1024")).split("x"))
                body: dict[str, Any] = {
                    "created": int(time.time()),
                    "data": [{"b64_json": base64.b64encode(_png(w, h)).decode()}],
                }
            elif path.endswith("/responses"):
                body = _openai_response(model, text, raw, usage)
            elif path.endswith("/chat/completions"):
                body = _chat_response(model, text, raw, usage)
            else:
                body = _anthropic_response(model, text, raw, usage)
            return JSONResponse(body, status, headers)
        finally:
            state.current -= 1
            record["ended_at"] = time.time()

    async def config(request: Request) -> Response:
        state.delay_seconds = float((await request.json()).get("delay_seconds", 0))
        return JSONResponse({"delay_seconds": state.delay_seconds})

    async def chatkit_items(request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        if thread_id not in state.chatkit_threads:
            error = {
                "error": {"message": f"No thread {thread_id}", "type": "invalid_request_error"}
            }
            return JSONResponse(error, 404)
        items = state.chatkit_threads[thread_id]
        if request.query_params.get("order", "desc") == "desc":
            items = list(reversed(items))
        return JSONResponse(
            {
                "object": "list",
                "data": items,
                "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None,
                "has_more": False,
            }
        )

    async def chatkit_put(request: Request) -> Response:
        state.chatkit_threads[request.path_params["thread_id"]] = await request.json()
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/responses", generate, methods=["POST"]),
            Route("/v1/chat/completions", generate, methods=["POST"]),
            Route("/v1/images/generations", generate, methods=["POST"]),
            Route("/v1/messages", generate, methods=["POST"]),
            *control_routes(state),
            Route("/_control/config", config, methods=["POST"]),
            Route("/v1/chatkit/threads/{thread_id}/items", chatkit_items, methods=["GET"]),
            Route("/_control/chatkit/threads/{thread_id}", chatkit_put, methods=["PUT"]),
        ]
    )


class FakeLLMClient(ControlClient):
    """Scripts a running fake server over its control API (any process)."""

    @property
    def base_url(self) -> str:
        """What to give the SDKs (``OPENAI_BASE_URL``; Anthropic takes ``url``)."""
        return f"{self.url}/v1"

    def set_delay(self, seconds: float) -> None:
        self._call("POST", "/_control/config", {"delay_seconds": seconds})

    def put_chatkit_thread(self, thread_id: str, items: list[dict[str, Any]]) -> None:
        """Serve these ChatKit thread items (wire format, oldest first)."""
        self._call("PUT", f"/_control/chatkit/threads/{thread_id}", items)


class FakeLLMServer(FakeLLMClient, ThreadedServer):
    """``with FakeLLMServer() as llm: ... llm.base_url ...`` (uvicorn in a background thread)."""

    name = "fake LLM"

    def __init__(self, port: int = 0) -> None:
        ThreadedServer.__init__(self, build_app(_State()), port)
        FakeLLMClient.__init__(self, self.local_url)


def main() -> None:
    serve_main(__doc__ or "", 8765, lambda: build_app(_State()))


if __name__ == "__main__":
    main()
