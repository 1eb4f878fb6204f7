"""Ollama's native API: /api/chat (streamed NDJSON), /api/tags, /api/show.

``num_ctx`` is always sent: Ollama's small default context silently cuts long prompts. The wait for
each streamed line (the first token included) is capped, so a model that never loads fails in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from locoder.exceptions import BackendError
from locoder.messages import Message, ModelResponse, ToolCall, Usage
from locoder.models.http import connection_error, error_text, status_error, with_retries

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
        return [m.get("name", "") for m in data.get("models") or []]

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
            return dict(response.json())
        except ValueError:
            raise BackendError(f"{url} answered with non-JSON; is {self.base_url} an Ollama server?") from None

    def _chat(self, body: dict[str, Any]) -> ModelResponse:
        url = self.base_url + "/api/chat"
        start = time.monotonic()
        try:
            with self._http.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    raise _ollama_error(url, response.status_code, response.read().decode(errors="replace"), self.name)
                return _collect(_lines(url, response.iter_lines()), start)
        except httpx.ReadTimeout:
            raise BackendError(
                f"{url} sent nothing for {self.config.first_token_timeout:g}s; the model may still be loading "
                "or too large for this machine (raise the wait with first_token_timeout)", retryable=False
            ) from None
        except httpx.HTTPError as exc:
            raise connection_error(url, exc) from None


def _lines(url: str, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    done = False
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise BackendError(f"{url} sent a malformed line: {line[:120]!r}", retryable=True) from None
        if "error" in event:
            raise BackendError(f"{url} reported an error: {error_text(event)}")
        yield event
        if event.get("done"):
            done = True
            break
    if not done:
        raise BackendError(f"{url} closed the stream before it finished", retryable=True)


def _collect(events: Iterator[dict[str, Any]], start: float) -> ModelResponse:
    content, thinking, calls = [], [], []
    first = None
    final: dict[str, Any] = {}
    for event in events:
        message = event.get("message") or {}
        if first is None and (message.get("content") or message.get("thinking") or message.get("tool_calls")):
            first = time.monotonic() - start
        content.append(message.get("content") or "")
        thinking.append(message.get("thinking") or "")
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            args = fn.get("arguments") or {}
            if isinstance(args, str):
                args = json.loads(args) if args.strip() else {}
            calls.append(ToolCall(fn.get("name", ""), args if isinstance(args, dict) else {}))
        if event.get("done"):
            final = event
    prompt = int(final.get("prompt_eval_count") or 0)
    return ModelResponse(
        content="".join(content),
        tool_calls=calls,
        # Ollama says "stop" even when it stopped to call a tool, and "length" when num_predict ran out.
        finish_reason=final.get("done_reason") or "stop",
        usage=Usage(prompt_tokens=prompt, completion_tokens=int(final.get("eval_count") or 0), prompt_processed=prompt),
        seconds=time.monotonic() - start,
        first_token_seconds=first,
        reasoning="".join(thinking),
    )


def _ollama_error(url: str, status: int, text: str, model: str) -> BackendError:
    if status == 404 and "not found" in text:
        return BackendError(f"Ollama has no model '{model}'; pull it first: ollama pull {model}")
    return status_error(url, status, text)
