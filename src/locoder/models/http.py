"""HTTP plumbing shared by the backends: what is worth retrying, and errors a user can act on."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx

from locoder.exceptions import BackendError

RETRY_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
    except RecursionError:
        raise BackendError(f"{url} answered with JSON nested too deeply to read") from None
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
    except (ValueError, RecursionError):
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


class Deadline:
    """One limit for a whole request, however the server trickles it (an SSE comment every few seconds
    resets a per-read timeout, not this). A timer shuts the connection's socket at the deadline, so a read
    that is waiting wakes up; the caller turns what follows into ``error()``."""

    def __init__(self, url: str, seconds: float, start: float | None = None) -> None:
        self.url, self.seconds = url, seconds
        self.end = (time.monotonic() if start is None else start) + seconds
        self._cut = threading.Event()

    @property
    def expired(self) -> bool:
        return self._cut.is_set() or time.monotonic() >= self.end

    def error(self) -> BackendError:
        return BackendError(f"{self.url} did not finish answering within {self.seconds:g}s (request_timeout); "
                            "the server is overloaded or the reply is too long (lower max_tokens)")

    @contextlib.contextmanager
    def watch(self, response: Any) -> Iterator[None]:
        """While the block runs, a timer that shuts ``response``'s socket when the time is up."""
        stream = getattr(response, "extensions", {}).get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        timer = threading.Timer(max(0.0, self.end - time.monotonic()), self._shut, (sock,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _shut(self, sock: socket.socket | None) -> None:
        self._cut.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def lines(self, lines: Iterator[str]) -> Iterator[str]:
        for line in lines:
            if self.expired:
                raise self.error()
            yield line


def load_json(url: str, text: str, what: str) -> dict[str, Any]:
    """One JSON object from the server; anything else (an array, a number, nesting too deep to read) is a
    ``BackendError``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise BackendError(f"{url} sent a malformed {what}: {text[:120]!r}", retryable=True) from None
    except RecursionError:
        raise BackendError(f"{url} sent a {what} nested too deeply to read: {text[:60]!r}...") from None
    if not isinstance(value, dict):
        raise shape_error(url, what, value)
    return value


def shape_error(url: str, what: str, value: Any) -> BackendError:
    shown = repr(value)
    return BackendError(f"{url} sent {what} of the wrong type ({type(value).__name__}: {shown[:80]}); "
                        "the server does not speak the protocol expected of it")


def text_of(url: str, what: str, value: Any) -> str:
    """A text field of a reply: None is empty, anything but a string is a ``BackendError``, and lone
    surrogates (a JSON escape like \\ud800 alone, which no encoding can write) become U+FFFD."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise shape_error(url, what, value)
    return LONE_SURROGATE.sub("\ufffd", value) if LONE_SURROGATE.search(value) else value


def tool_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's arguments as a dict. Arguments that cannot be used (not JSON, not an object, nested too
    deeply, holding a lone surrogate) come back as ``{"__unparsed__": text}``, which the parser turns into a
    format error the model can correct."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        value: Any = raw
        text = ""
    else:
        text = raw if isinstance(raw, str) else repr(raw)
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return {"__unparsed__": LONE_SURROGATE.sub("\ufffd", text[:300])}
    from locoder.models.parsing import too_deep

    if too_deep(value):
        return {"__unparsed__": "the arguments are nested too deeply"}
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return {"__unparsed__": "the arguments hold a lone surrogate (an invalid character)"}
    except (ValueError, TypeError, RecursionError):
        return {"__unparsed__": LONE_SURROGATE.sub("\ufffd", text[:300])}
    return value if isinstance(value, dict) else {"__unparsed__": LONE_SURROGATE.sub("\ufffd", text[:300])}
