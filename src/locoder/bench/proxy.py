"""A counting proxy for OpenAI-compatible servers: every agent in a benchmark talks to the model through one,
so requests and tokens are counted the same way for each, from the server's own ``usage``.

``with CountingProxy("http://127.0.0.1:8765/v1") as proxy:`` serves on ``proxy.base_url`` (127.0.0.1, a free
port, the upstream's path) and forwards every request unchanged, with two exceptions: a streaming request that
did not ask for usage gets ``stream_options.include_usage`` added, and the usage-only chunk that this makes the
server send is kept from the client that did not ask for it. Upstream errors pass through as they are; an
upstream that cannot be reached is answered 502 with a JSON error naming it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

# Headers that describe one hop, or that the proxy recomputes (it sends identity-encoded bodies).
_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
                          "trailer", "host", "content-length", "accept-encoding", "content-encoding"})
_MODEL_PATHS = ("/chat/completions", "/completions")


@dataclass
class ProxyTotals:
    """What went through the proxy so far."""

    requests: int = 0
    """Model requests (``.../chat/completions`` and ``.../completions``), answered or not."""
    failed: int = 0
    """Model requests answered with an error status, or not answered (upstream unreachable, cut stream)."""
    unmetered: int = 0
    """Model requests answered 2xx whose response carried no ``usage``: their tokens are not in the sums."""
    estimated: int = 0
    """Streamed model requests cut before the server's ``usage`` came (a peer killed at its timeout): their
    completion tokens are counted as the content chunks relayed (llama.cpp sends one token per chunk), their
    prompt tokens are not known."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the server reported as served from its cache (``prompt_tokens_details.cached_tokens``)."""
    other_requests: int = 0
    """Requests to any other path (``/models``, ...)."""
    upstream_seconds: float = 0.0
    """Time spent waiting for the upstream on model requests, summed (requests may overlap)."""

    def add_usage(self, usage: dict) -> None:
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        self.cached_tokens += int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0


@dataclass
class _Exchange:
    """One request as the handler prepares it."""

    body: bytes
    streaming: bool = False
    injected_usage: bool = False
    metered: bool = False
    usage: dict | None = None
    chunks: int = 0
    """Stream chunks with choices relayed so far."""


def prepare_body(raw: bytes) -> tuple[bytes, bool, bool]:
    """The body to send upstream, whether it asks for a stream, and whether usage was added to the stream
    request. Bodies that are not a JSON object go through untouched."""
    try:
        payload = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return raw, False, False
    if not isinstance(payload, dict) or not payload.get("stream"):
        return raw, False, False
    options = payload.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return raw, True, False
    payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return json.dumps(payload).encode(), True, True


def sse_usage(line: bytes) -> tuple[dict | None, bool]:
    """The ``usage`` in one server-sent-events line, if any, and whether the chunk is usage only (no choices)."""
    if not line.startswith(b"data:"):
        return None, False
    data = line[5:].strip()
    if not data.startswith(b"{"):
        return None, False
    try:
        chunk = json.loads(data)
    except ValueError:
        return None, False
    usage = chunk.get("usage") if isinstance(chunk, dict) else None
    if not isinstance(usage, dict):
        return None, False
    return usage, not chunk.get("choices")


class CountingProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream_base_url`` that counts model requests and
    tokens. Use as a context manager; ``totals()`` may be read at any time."""

    def __init__(self, upstream_base_url: str, *, timeout: float = 3600.0) -> None:
        parts = urlsplit(upstream_base_url.rstrip("/"))
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self.upstream_path = parts.path
        self._timeout = timeout
        self._totals = ProxyTotals()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._client: httpx.Client | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("CountingProxy is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.upstream_path}"

    def totals(self, settle: float = 0.0) -> ProxyTotals:
        """A copy of the counts so far; with ``settle``, first wait up to that many seconds for requests still
        in flight to end (after an agent is killed, its cut request is counted once the proxy sees the hang-up)."""
        deadline = time.monotonic() + settle
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
            return ProxyTotals(**vars(self._totals))

    def __enter__(self) -> CountingProxy:
        self._client = httpx.Client(timeout=httpx.Timeout(self._timeout, connect=10.0))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A client that hangs up mid-answer (a killed agent) is not an error worth printing.
        self._server.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._client is not None:
            self._client.close()

    def _record(self, exchange: _Exchange, ok: bool, seconds: float) -> None:
        with self._lock:
            self._in_flight -= 1
            self._idle.notify_all()
            totals = self._totals
            totals.requests += 1
            totals.upstream_seconds += seconds
            if exchange.usage is None and exchange.chunks:
                totals.estimated += 1
                totals.completion_tokens += exchange.chunks
            if not ok:
                totals.failed += 1
            elif exchange.usage is None:
                totals.unmetered += 1
            else:
                totals.add_usage(exchange.usage)

    def _count_other(self) -> None:
        with self._lock:
            self._totals.other_requests += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, and a streamed body simply ends when the connection closes.
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        return Handler

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        metered = handler.command == "POST" and handler.path.split("?")[0].endswith(_MODEL_PATHS)
        body, streaming, injected = prepare_body(raw) if metered else (raw, False, False)
        exchange = _Exchange(body, streaming, injected, metered)
        if not metered:
            self._count_other()
        else:
            with self._lock:
                self._in_flight += 1
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        assert self._client is not None
        start = time.monotonic()
        recorded = False

        def record(ok: bool) -> None:
            # Called before the answer's last bytes go out, so a client that has its answer sees it counted.
            nonlocal recorded
            if metered and not recorded:
                recorded = True
                self._record(exchange, ok, time.monotonic() - start)

        try:
            request = self._client.build_request(handler.command, self.upstream_origin + handler.path,
                                                 headers=headers, content=body)
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            record(False)
            _answer_502(handler, f"upstream {self.upstream_origin} unreachable: {type(exc).__name__}: {exc}")
            return
        try:
            record(_relay(handler, response, exchange, record))
        finally:
            response.close()
            record(False)  # only if nothing above recorded it (an unexpected error): the count must not hang


def _send_head(handler: BaseHTTPRequestHandler, response: httpx.Response, length: int | None) -> None:
    handler.send_response(response.status_code, response.reason_phrase or None)
    for key, value in response.headers.multi_items():
        if key.lower() not in _HOP_HEADERS:
            handler.send_header(key, value)
    if length is not None:
        handler.send_header("content-length", str(length))
    handler.end_headers()


def _relay(handler: BaseHTTPRequestHandler, response: httpx.Response, exchange: _Exchange,
           record: Callable[[bool], None]) -> bool:
    """Copy the upstream answer to the client, reading ``usage`` on the way; True when it was a complete 2xx.
    ``record`` is called before the last bytes are written."""
    ok = 200 <= response.status_code < 300
    is_sse = "text/event-stream" in response.headers.get("content-type", "")
    try:
        if exchange.streaming and ok and is_sse:
            _send_head(handler, response, None)
            return _relay_stream(handler, response, exchange, record)
        content = response.read()
        if ok and exchange.metered:
            exchange.usage = _json_usage(content)
        record(ok)
        _send_head(handler, response, len(content))
        if handler.command != "HEAD":
            handler.wfile.write(content)
        return ok
    except httpx.HTTPError:
        return False  # the upstream broke off; the client sees a cut answer, as it would without the proxy
    except OSError:
        return ok and exchange.usage is not None  # the client hung up; what the server did still counts


def _relay_stream(handler: BaseHTTPRequestHandler, response: httpx.Response, exchange: _Exchange,
                  record: Callable[[bool], None]) -> bool:
    pending = b""
    held = b""  # one write behind, so the stream's end goes out after it is counted
    for piece in response.iter_bytes():
        pending += piece
        *lines, pending = pending.split(b"\n")
        out = bytearray()
        for line in lines:
            usage, usage_only = sse_usage(line)
            if usage is not None:
                exchange.usage = usage
            elif line.startswith(b"data:") and b'"delta"' in line:
                exchange.chunks += 1
            if not (usage_only and exchange.injected_usage):
                out += line + b"\n"
        if out:
            if held:
                handler.wfile.write(held)
                handler.wfile.flush()
            held = bytes(out)
    if pending:
        usage, usage_only = sse_usage(pending)
        exchange.usage = usage or exchange.usage
        if not (usage_only and exchange.injected_usage):
            held += pending
    record(True)
    if held:
        handler.wfile.write(held)
    return True


def _json_usage(content: bytes) -> dict | None:
    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    usage = payload.get("usage") if isinstance(payload, dict) else None
    return usage if isinstance(usage, dict) else None


def _answer_502(handler: BaseHTTPRequestHandler, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "proxy_error", "code": 502}}).encode()
    try:
        handler.send_response(502)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass
