"""Ollama's native API: /api/chat (streamed NDJSON), /api/tags, /api/show.

``num_ctx`` is always sent: Ollama's small default context silently cuts long prompts. The wait for
each streamed line (the first token included) is capped, so a model that never loads fails in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from locoder.exceptions import BackendError
from locoder.messages import Message, ModelResponse, ToolCall, Usage
from locoder.models.http import (
    Deadline,
    connection_error,
    error_text,
    load_json,
    shape_error,
    status_error,
    text_of,
    tool_arguments,
    with_retries,
)

DEFAULT_URL = "http://127.0.0.1:11434"


@dataclass
class OllamaConfig:
    model: str
    """An Ollama model name, e.g. ``qwen3:1.7b``."""
    base_url: str = DEFAULT_URL
    context_window: int = 8192
    """Sent as ``options.num_ctx`` with every request."""
    temperature: float = 0.2
    max_tokens: int = 1024
    first_token_timeout: float = 30.0
    """Seconds to wait for each streamed line, the first one included."""
    request_timeout: float = 300.0
    """Seconds one request may take in all, however steadily the server streams."""
    retries: int = 2
    thinking: bool | None = None
    """``think`` for models with a thinking mode; None leaves the model's default."""
    extra_options: dict[str, Any] = field(default_factory=dict)


class OllamaModel:
    def __init__(self, config: OllamaConfig) -> None:
        self.config = config
        self.name = config.model
        self.base_url = config.base_url.rstrip("/").removesuffix("/v1")
        timeout = httpx.Timeout(config.first_token_timeout, connect=10.0)
        self._http = httpx.Client(timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def list_models(self) -> list[str]:
        data = self._json("GET", "/api/tags")
        models = data.get("models") or []
        if not isinstance(models, list):
            raise shape_error(self.base_url + "/api/tags", "models", models)
        return [str(m.get("name", "")) for m in models if isinstance(m, dict)]

    def facts(self):
        """The model's parameter count and context window from ``/api/show`` (zeros when it does not say)."""
        from locoder.models.facts import ModelFacts, from_ollama_show

        try:
            return from_ollama_show(self.show())
        except BackendError:
            return ModelFacts()

    def show(self) -> dict[str, Any]:
        """The model's details, including ``capabilities`` (tools, thinking) and context length."""
        return self._json("POST", "/api/show", {"model": self.name})

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        options = {"num_ctx": self.config.context_window, "temperature": self.config.temperature if temperature is None else temperature,
                   "num_predict": self.config.max_tokens, **self.config.extra_options}
        body: dict[str, Any] = {"model": self.name, "messages": [m.to_wire() for m in messages],
                                "stream": True, "options": options}
        if schema is not None:
            body["format"] = schema
        if tools:
            body["tools"] = tools
        if self.config.thinking is not None:
            body["think"] = self.config.thinking
        return with_retries(lambda: self._chat(body), self.config.retries)

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise connection_error(url, exc) from None
        if response.status_code >= 400:
            raise _ollama_error(url, response.status_code, response.text, self.name)
        try:
            return load_json(url, response.text, "reply")
        except BackendError as exc:
            raise BackendError(f"{exc}; is {self.base_url} an Ollama server?") from None

    def _chat(self, body: dict[str, Any]) -> ModelResponse:
        url = self.base_url + "/api/chat"
        start = time.monotonic()
        deadline = Deadline(url, self.config.request_timeout, start)
        try:
            with self._http.stream("POST", url, json=body) as response, deadline.watch(response):
                if response.status_code >= 400:
                    raise _ollama_error(url, response.status_code, response.read().decode(errors="replace"), self.name)
                return _collect(url, _lines(url, deadline.lines(response.iter_lines())), start)
        except BackendError:
            if deadline.expired:
                raise deadline.error() from None
            raise
        except httpx.HTTPError as exc:
            if deadline.expired:
                raise deadline.error() from None
            if not isinstance(exc, httpx.ReadTimeout):
                raise connection_error(url, exc) from None
            raise BackendError(
                f"{url} sent nothing for {self.config.first_token_timeout:g}s; the model may still be loading "
                "or too large for this machine (raise the wait with first_token_timeout)", retryable=False
            ) from None


def _lines(url: str, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    done = False
    for line in lines:
        if not line.strip():
            continue
        event = load_json(url, line, "line")
        if "error" in event:
            raise BackendError(f"{url} reported an error: {error_text(event)}")
        yield event
        if event.get("done"):
            done = True
            break
    if not done:
        raise BackendError(f"{url} closed the stream before it finished", retryable=True)


def _collect(url: str, events: Iterator[dict[str, Any]], start: float) -> ModelResponse:
    content, thinking, calls = [], [], []
    first = None
    final: dict[str, Any] = {}
    for event in events:
        message = event.get("message") or {}
        if not isinstance(message, dict):
            raise shape_error(url, "a message", message)
        piece, thought = text_of(url, "content", message.get("content")), text_of(url, "thinking", message.get("thinking"))
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise shape_error(url, "tool_calls", raw_calls)
        if first is None and (piece or thought or raw_calls):
            first = time.monotonic() - start
        content.append(piece)
        thinking.append(thought)
        for call in raw_calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict):
                raise shape_error(url, "a tool call", call)
            calls.append(ToolCall(text_of(url, "a tool call's name", fn.get("name")), tool_arguments(fn.get("arguments"))))
        if event.get("done"):
            final = event
    prompt = _count(url, "prompt_eval_count", final.get("prompt_eval_count"))
    return ModelResponse(
        content="".join(content),
        tool_calls=calls,
        # Ollama says "stop" even when it stopped to call a tool, and "length" when num_predict ran out.
        finish_reason=text_of(url, "done_reason", final.get("done_reason")) or "stop",
        usage=Usage(prompt_tokens=prompt, completion_tokens=_count(url, "eval_count", final.get("eval_count")),
                    prompt_processed=prompt),
        seconds=time.monotonic() - start,
        first_token_seconds=first,
        reasoning="".join(thinking),
    )


def _count(url: str, what: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise shape_error(url, what, value)  # NaN and Infinity are JSON to Python, not counts
    return int(value)


def _ollama_error(url: str, status: int, text: str, model: str) -> BackendError:
    if status == 404 and "not found" in text:
        return BackendError(f"Ollama has no model '{model}'; pull it first: ollama pull {model}")
    return status_error(url, status, text)
