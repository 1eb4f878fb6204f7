"""HTTP plumbing shared by the backends: what is worth retrying, and errors a user can act on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from locoder.exceptions import BackendError

RETRY_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


def with_retries(call: Callable[[], T], retries: int) -> T:
    """Run ``call``; on a retryable ``BackendError`` try again, with exponential backoff."""
    for attempt in range(retries + 1):
        try:
            return call()
        except BackendError as exc:
            if not exc.retryable or attempt == retries:
                raise
            time.sleep(min(0.5 * 2**attempt, 8.0))
    raise AssertionError("unreachable")


def decode_json(url: str, text: str, content_type: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        what = "HTML" if "html" in content_type or text.lstrip().startswith("<") else "non-JSON text"
        raise BackendError(
            f"{url} answered with {what}, not JSON; is the URL an OpenAI-compatible endpoint ending in /v1?"
        ) from None
    if not isinstance(data, dict):
        raise BackendError(f"{url} answered with unexpected JSON: {text[:120]!r}")
    return data


def error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(payload)


def status_error(url: str, status: int, text: str) -> BackendError:
    try:
        detail = error_text(json.loads(text))
    except json.JSONDecodeError:
        detail = " ".join(text.split())[:200]
    lowered = detail.lower()
    if "context" in lowered and ("length" in lowered or "exceed" in lowered or "size" in lowered):
        return BackendError(
            f"the prompt is longer than the model's context ({detail}); raise --context-window on the server "
            "and in locoder, or start a new session"
        )
    if status in (401, 403):
        return BackendError(f"{url} refused the request ({status}: {detail}); check OPENAI_API_KEY")
    if status == 404:
        return BackendError(f"{url} was not found (404: {detail}); check the URL (it should end in /v1) and model name")
    return BackendError(f"{url} failed with HTTP {status}: {detail}", retryable=status in RETRY_STATUS)


def connection_error(url: str, exc: httpx.HTTPError) -> BackendError:
    if isinstance(exc, httpx.TimeoutException):
        return BackendError(f"{url} did not answer in time ({type(exc).__name__}); is the server overloaded?",
                            retryable=isinstance(exc, httpx.ConnectTimeout))
    if isinstance(exc, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
        return BackendError(f"cannot reach the model server at {url} ({exc}); is it running?", retryable=True)
    return BackendError(f"request to {url} failed: {exc}")
