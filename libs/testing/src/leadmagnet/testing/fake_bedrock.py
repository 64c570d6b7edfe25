"""A local server speaking the Amazon Bedrock Runtime wire format (rest-json), so the real
aiobotocore ``bedrock-runtime`` client is tested offline: point it here with
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and any credentials (signatures are not checked, but each
request's ``Authorization`` header is recorded for the tests to inspect).

  POST /model/{modelId}/converse  -> {"output": {"message": {"role", "content"}}, "stopReason",
                                      "usage", "metrics"}; a request with ``toolConfig`` is
                                      answered with a ``toolUse`` block for the forced tool
  POST /model/{modelId}/invoke    -> Nova Canvas: {"images": [base64 PNG], "error": null}

Scripting over HTTP, as the fake LLM server:
  POST   /_control/rules   {"match": "substring of the request body", "times": 1,
                            "reply": {"status": 429, "error_type": "ThrottlingException",
                                      "message": "...", "headers": {...},
                                      | "text": "assistant text" | "json": {...tool input...}
                                      | "stop_reason": "max_tokens" | "images": 0,
                                      "usage": {"inputTokens": ..., ...}, "delay_seconds": 2}}
  DELETE /_control/rules   drop all rules
  GET    /_control/stats   {"total", "requests": [...]} (each: operation, model, path,
                            authorization, payload (long strings elided), at)
  POST   /_control/reset   rules and stats back to defaults
Run standalone: ``python -m leadmagnet.testing.fake_bedrock --port 8766``.
"""

from __future__ import annotations

import asyncio
import base64
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


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _elide(value: Any) -> Any:
    """The request as sent, with long strings (base64 images) replaced by their length."""
    if isinstance(value, dict):
        return {k: _elide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide(v) for v in value]
    if isinstance(value, str) and len(value) > 2000:
        return f"<{len(value)} chars>"
    return value


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


def _default_text(model: str) -> str:
    return (
        f"# Report from {model}\n\nA generated report from the local Bedrock server.\n\n"
        "## Recommendations\n\n- First, focus.\n- Second, measure.\n"
    )


def _converse(model: str, payload: dict[str, Any], raw: str, reply: dict[str, Any]) -> Any:
    tool_config = payload.get("toolConfig") or {}
    forced = ((tool_config.get("toolChoice") or {}).get("tool") or {}).get("name")
    content: list[dict[str, Any]]
    if forced and "text" not in reply:
        answer = reply.get("json", {})
        content = [
            {
                "toolUse": {
                    "toolUseId": f"tooluse_{uuid.uuid4().hex[:20]}",
                    "name": forced,
                    "input": answer,
                }
            }
        ]
        out_text = json.dumps(answer)
        stop = "tool_use"
    else:
        out_text = (
            json.dumps(reply["json"])
            if "json" in reply
            else str(reply.get("text", _default_text(model)))
        )
        content = [{"text": out_text}]
        stop = "end_turn"
    usage = dict(reply.get("usage", {}))
    input_tokens = int(usage.get("inputTokens", _tokens(raw)))
    output_tokens = int(usage.get("outputTokens", _tokens(out_text)))
    cache_read = int(usage.get("cacheReadInputTokens", 0))
    cache_write = int(usage.get("cacheWriteInputTokens", 0))
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reply.get("stop_reason", stop),
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens + cache_read + cache_write,
        },
        "metrics": {"latencyMs": 12},
    }
    if cache_read or cache_write:
        body["usage"]["cacheReadInputTokens"] = cache_read
        body["usage"]["cacheWriteInputTokens"] = cache_write
    return body


def _invoke(payload: dict[str, Any], reply: dict[str, Any]) -> Any:
    config = payload.get("imageGenerationConfig") or {}
    width, height = int(config.get("width", 1024)), int(config.get("height", 1024))
    count = int(reply.get("images", config.get("numberOfImages", 1)))
    images = [base64.b64encode(_png(width, height)).decode() for _ in range(count)]
    return {"images": images, "error": reply.get("error")}


def build_app(state: ScriptedState) -> Starlette:
    async def model_call(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        model = request.path_params["model_id"]
        operation = request.url.path.rsplit("/", 1)[-1]
        state.record(
            {
                "operation": operation,
                "model": model,
                "path": request.url.path,
                "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                "authorization": request.headers.get("authorization", ""),
                "content_type": request.headers.get("content-type", ""),
                "payload": _elide(payload),
                "at": time.time(),
            }
        )
        reply = state.take_rule(raw) or {}
        delay = float(reply.get("delay_seconds", 0))
        if delay:
            await asyncio.sleep(delay)
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        headers.update(reply.get("headers", {}))
        status = int(reply.get("status", 200))
        if status >= 400:
            headers["x-amzn-ErrorType"] = str(reply.get("error_type", "InternalServerException"))
            message = str(reply.get("message", "error from the local Bedrock server"))
            return JSONResponse({"message": message}, status, headers)
        if operation == "converse":
            return JSONResponse(_converse(model, payload, raw, reply), 200, headers)
        return JSONResponse(_invoke(payload, reply), 200, headers)

    return Starlette(
        routes=[
            Route("/model/{model_id:path}/converse", model_call, methods=["POST"]),
            Route("/model/{model_id:path}/invoke", model_call, methods=["POST"]),
            *control_routes(state),
        ]
    )


class FakeBedrockClient(ControlClient):
    """Scripts a running fake server over its control API (any process)."""

    @property
    def endpoint_url(self) -> str:
        """What to give the SDK (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``)."""
        return self.url

    def requests(self) -> list[dict[str, Any]]:
        return list(self.stats()["requests"])


class FakeBedrockServer(FakeBedrockClient, ThreadedServer):
    """``with FakeBedrockServer() as bedrock: ... bedrock.endpoint_url ...`` (uvicorn thread)."""

    name = "fake Bedrock"

    def __init__(self, port: int = 0) -> None:
        ThreadedServer.__init__(self, build_app(ScriptedState()), port)
        FakeBedrockClient.__init__(self, self.local_url)


def main() -> None:
    serve_main(__doc__ or "", 8766, lambda: build_app(ScriptedState()))


if __name__ == "__main__":
    main()
