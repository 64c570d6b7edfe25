"""The SDK error mapping: each SDK's typed errors map to our two kinds, and mapping one SDK's
error never imports another SDK (importing anthropic costs seconds of CPU, stalling a worker's
event loop on its first failed call)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx2
import openai

from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.providers.errors import map_sdk_error

REQUEST = httpx2.Request("POST", "http://llm.invalid/v1/responses")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx2.Response(status, headers=headers or {}, request=REQUEST)
    return openai.APIStatusError("refused", response=response, body={"error": {"message": "no"}})


def test_openai_errors_map_to_transient_or_permanent() -> None:
    timeout = map_sdk_error("openai", openai.APITimeoutError(request=REQUEST))
    assert isinstance(timeout, TransientError)
    assert timeout.code == "provider_timeout"
    unreachable = map_sdk_error("openai", openai.APIConnectionError(request=REQUEST))
    assert unreachable.code == "provider_unreachable"

    limited = map_sdk_error("openai", status_error(429, {"retry-after": "7"}))
    assert isinstance(limited, TransientError)
    assert limited.code == "provider_rate_limited"
    assert limited.retry_after == 7
    assert isinstance(map_sdk_error("openai", status_error(503)), TransientError)
    rejected = map_sdk_error("openai", status_error(400))
    assert isinstance(rejected, PermanentError)
    assert "answered 400: no" in str(rejected)

    other = map_sdk_error("openai", ValueError("odd"))
    assert isinstance(other, TransientError)
    assert other.code == "provider_error"


def test_mapping_an_openai_error_does_not_import_anthropic() -> None:
    script = textwrap.dedent(
        """
        import sys
        import httpx2, openai
        from leadmagnet.common.providers.errors import map_sdk_error
        request = httpx2.Request("POST", "http://llm.invalid/")
        mapped = map_sdk_error("openai", openai.APITimeoutError(request=request))
        assert mapped.code == "provider_timeout", mapped
        print("anthropic" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False", done.stderr


def test_an_anthropic_error_maps_once_anthropic_is_imported() -> None:
    import anthropic

    response = httpx2.Response(529, request=REQUEST)
    err = anthropic.APIStatusError("overloaded", response=response, body=None)
    mapped = map_sdk_error("anthropic", err)
    assert isinstance(mapped, TransientError)
    assert mapped.code == "provider_unavailable"
