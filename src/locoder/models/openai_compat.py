"""One client for every OpenAI-compatible server: the embedded llama.cpp server, vLLM, llama.cpp's
own server, LM Studio, Ollama's /v1. Streams, retries what retrying can fix, and turns every
server misbehaviour into a ``BackendError`` with a message a user can act on."""

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
    decode_json,
    error_text,
    load_json,
    shape_error,
    status_error,
    text_of,
    tool_arguments,
    with_retries,
)


@dataclass
class OpenAICompatConfig:
    base_url: str
    """Server root ending in /v1, e.g. http://127.0.0.1:8000/v1."""
    model: str = ""
    """Model id to request; empty: the first id the server lists."""
    api_key: str = field(default="", repr=False)
    temperature: float = 0.2
    max_tokens: int = 1024
    timeout: float = 300.0
    """Seconds one request may take in all, from sending it to the last streamed chunk (each wait for a
    chunk is capped by the same number)."""
    connect_timeout: float = 10.0
    retries: int = 3
    """Retries on connection errors, 429 and 5xx, with exponential backoff."""
    schema_style: str = "json_schema"
    """How a JSON schema is sent: ``json_schema`` (OpenAI form) or ``json_object`` (llama.cpp form)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Fields added to every request (e.g. ``cache_prompt`` for llama.cpp)."""
    thinking: bool | None = None
    """Sent as ``chat_template_kwargs.enable_thinking`` (vLLM, llama.cpp); None leaves the template's default."""


class OpenAICompatModel:
    def __init__(self, config: OpenAICompatConfig) -> None:
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._http = httpx.Client(headers=headers, timeout=timeout, trust_env=False)
        self.name = config.model
        self._tokenize: bool | None = None
        """Whether the server has llama.cpp's ``/tokenize``; None: not asked yet."""

    def close(self) -> None:
        self._http.close()

    def facts(self):
        """The model's parameter count and context window, as the server reports them (zeros when it does not)."""
        from locoder.models.facts import ModelFacts, from_model_list

        try:
            return from_model_list(self._request_json("GET", "/models"), self.name)
        except BackendError:
            return ModelFacts()

    def resolve_model_name(self) -> str:
        if not self.name:
            data = self._request_json("GET", "/models")
            models = data.get("data") or []
            if not models or not isinstance(models[0], dict) or "id" not in models[0]:
                raise BackendError(f"{self.base_url}/models lists no model; set MODEL_NAME or --model-name")
            self.name = str(models[0]["id"])
        return self.name

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        body: dict[str, Any] = {
            "model": self.resolve_model_name(),
            "messages": [m.to_wire() for m in messages],
            "temperature": self.config.temperature if temperature is None else temperature,
            "max_tokens": self.config.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            **self.config.extra_body,
        }
        if schema is not None:
            if self.config.schema_style == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "action", "schema": schema},
                }
        if tools:
            body["tools"] = tools
        if self.config.thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": self.config.thinking}
        return with_retries(lambda: self._stream(body), self.config.retries)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the server's own tokenizer (llama.cpp's ``POST /tokenize``, at the server's
        root). A server without it raises ``BackendError`` and is not asked again."""
        if self._tokenize is False:
            raise BackendError(f"{self.base_url} has no /tokenize")
        url = self.base_url.removesuffix("/v1") + "/tokenize"
        try:
            response = self._http.post(url, json={"content": text, "add_special": False}, timeout=10.0)
        except httpx.HTTPError as exc:
            raise connection_error(url, exc) from None
        if response.status_code >= 400:
            if response.status_code in (400, 404, 405, 501):
                self._tokenize = False
            raise status_error(url, response.status_code, response.text)
        tokens = decode_json(url, response.text, response.headers.get("content-type", "")).get("tokens")
        if not isinstance(tokens, list):
            self._tokenize = False
            raise shape_error(url, "tokens", tokens)
        self._tokenize = True
        return len(tokens)

    # --- wire ---

    def _request_json(self, method: str, path: str) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._http.request(method, url)
        except httpx.HTTPError as exc:
            raise connection_error(url, exc) from None
        if response.status_code >= 400:
            raise status_error(url, response.status_code, response.text)
        return decode_json(url, response.text, response.headers.get("content-type", ""))

    def _stream(self, body: dict[str, Any]) -> ModelResponse:
        url = self.base_url + "/chat/completions"
        start = time.monotonic()
        deadline = Deadline(url, self.config.timeout, start)
        try:
            with self._http.stream("POST", url, json=body) as response, deadline.watch(response):
                if response.status_code >= 400:
                    raise status_error(url, response.status_code, response.read().decode(errors="replace"))
                kind = response.headers.get("content-type", "")
                if "text/event-stream" not in kind:
                    # Some servers ignore stream=true and answer with one JSON document.
                    data = decode_json(url, response.read().decode(errors="replace"), kind)
                    return _from_completion(url, data, time.monotonic() - start)
                return _collect(url, _events(url, deadline.lines(response.iter_lines())), start)
        except httpx.HTTPError as exc:
            raise deadline.error() if deadline.expired else connection_error(url, exc) from None
        except BackendError:
            if deadline.expired:
                raise deadline.error() from None
            raise


def _events(url: str, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    done = False
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        event = load_json(url, payload, "stream event")
        if "error" in event:
            raise BackendError(f"{url} reported an error mid-stream: {error_text(event)}")
        yield event
    if not done:
        raise BackendError(f"{url} closed the stream before it finished", retryable=True)


def _collect(url: str, events: Iterator[dict[str, Any]], start: float) -> ModelResponse:
    """The streamed deltas put together. Every field is checked for its type: a server that sends
    something else gets a ``BackendError`` naming the field, never a traceback."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    first = None
    usage = Usage()
    for event in events:
        if event.get("usage"):
            usage = _usage(url, event)
        choices = event.get("choices") or []
        if not isinstance(choices, list):
            raise shape_error(url, "choices", choices)
        for choice in choices:
            if not isinstance(choice, dict):
                raise shape_error(url, "a choice", choice)
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise shape_error(url, "a delta", delta)
            piece = text_of(url, "content", delta.get("content"))
            think = text_of(url, "reasoning", delta.get("reasoning_content") or delta.get("reasoning"))
            tool_calls = delta.get("tool_calls") or []
            if not isinstance(tool_calls, list):
                raise shape_error(url, "tool_calls", tool_calls)
            if (piece or think or tool_calls) and first is None:
                first = time.monotonic() - start
            content.append(piece)
            reasoning.append(think)
            for tc in tool_calls:
                _add_call_delta(url, calls, tc)
            finish = text_of(url, "finish_reason", choice.get("finish_reason")) or finish
    return ModelResponse(
        content="".join(content),
        tool_calls=[_tool_call(c) for _, c in sorted(calls.items())],
        finish_reason=finish,
        usage=usage,
        seconds=time.monotonic() - start,
        first_token_seconds=first,
        reasoning="".join(reasoning),
    )


def _add_call_delta(url: str, calls: dict[int, dict[str, Any]], tc: Any) -> None:
    if not isinstance(tc, dict):
        raise shape_error(url, "a tool call", tc)
    index = tc.get("index", len(calls))
    if not isinstance(index, int) or isinstance(index, bool):
        raise shape_error(url, "a tool call's index", index)
    fn = tc.get("function") or {}
    if not isinstance(fn, dict):
        raise shape_error(url, "a tool call's function", fn)
    slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    slot["id"] = text_of(url, "a tool call's id", tc.get("id")) or slot["id"]
    slot["name"] += text_of(url, "a tool call's name", fn.get("name"))
    slot["arguments"] += text_of(url, "a tool call's arguments", fn.get("arguments"))


def _from_completion(url: str, data: dict[str, Any], seconds: float) -> ModelResponse:
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BackendError(f"the server's response has no choices: {str(data)[:200]}") from None
    if not isinstance(message, dict):
        raise shape_error(url, "the message", message)
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list) or not all(isinstance(c, dict) for c in raw_calls):
        raise shape_error(url, "tool_calls", raw_calls)
    calls = []
    for c in raw_calls:
        fn = c.get("function") or {}
        if not isinstance(fn, dict):
            raise shape_error(url, "a tool call's function", fn)
        calls.append(_tool_call({"id": text_of(url, "a tool call's id", c.get("id")),
                                 "name": text_of(url, "a tool call's name", fn.get("name")),
                                 "arguments": fn.get("arguments")}))
    return ModelResponse(
        content=text_of(url, "content", message.get("content")),
        tool_calls=calls,
        finish_reason=text_of(url, "finish_reason", choice.get("finish_reason")) or None,
        usage=_usage(url, data),
        seconds=seconds,
        first_token_seconds=seconds,
        reasoning=text_of(url, "reasoning", message.get("reasoning_content")),
    )


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    return ToolCall(name=raw.get("name") or "", arguments=tool_arguments(raw.get("arguments")), id=raw.get("id") or "")


def _usage(url: str, data: dict[str, Any]) -> Usage:
    raw = data.get("usage") or {}
    timings = data.get("timings") or {}
    if not isinstance(raw, dict):
        raise shape_error(url, "usage", raw)
    if not isinstance(timings, dict):
        raise shape_error(url, "timings", timings)
    details = raw.get("prompt_tokens_details") or {}
    if not isinstance(details, dict):
        raise shape_error(url, "usage.prompt_tokens_details", details)
    processed = timings.get("prompt_n")
    return Usage(
        prompt_tokens=_count(url, "usage.prompt_tokens", raw.get("prompt_tokens")),
        completion_tokens=_count(url, "usage.completion_tokens", raw.get("completion_tokens")),
        cached_tokens=_count(url, "usage.cached_tokens", details.get("cached_tokens") or timings.get("cache_n")),
        prompt_processed=_count(url, "timings.prompt_n", processed) if processed is not None else None,
    )


def _count(url: str, what: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise shape_error(url, what, value)  # NaN and Infinity are JSON to Python, not counts
    return int(value)
