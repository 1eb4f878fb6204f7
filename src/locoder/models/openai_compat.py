"""One client for every OpenAI-compatible server: the embedded llama.cpp server, vLLM, llama.cpp's
own server, LM Studio, Ollama's /v1. Streams, retries what retrying can fix, and turns every
server misbehaviour into a ``BackendError`` with a message a user can act on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from locoder.exceptions import BackendError
from locoder.messages import Message, ModelResponse, ToolCall, Usage
from locoder.models.http import connection_error, decode_json, error_text, status_error, with_retries


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
    """Seconds to wait for the response (and between streamed chunks)."""
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
        try:
            with self._http.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    raise status_error(url, response.status_code, response.read().decode(errors="replace"))
                kind = response.headers.get("content-type", "")
                if "text/event-stream" not in kind:
                    # Some servers ignore stream=true and answer with one JSON document.
                    data = decode_json(url, response.read().decode(errors="replace"), kind)
                    return _from_completion(data, time.monotonic() - start)
                return _collect(_events(url, response.iter_lines()), start)
        except httpx.HTTPError as exc:
            raise connection_error(url, exc) from None


def _events(url: str, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    done = False
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            raise BackendError(f"{url} sent a malformed stream event: {payload[:120]!r}", retryable=True) from None
        if isinstance(event, dict) and "error" in event:
            raise BackendError(f"{url} reported an error mid-stream: {error_text(event)}")
        yield event
    if not done:
        raise BackendError(f"{url} closed the stream before it finished", retryable=True)


def _collect(events: Iterator[dict[str, Any]], start: float) -> ModelResponse:
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    first = None
    usage = Usage()
    for event in events:
        if event.get("usage"):
            usage = _usage(event)
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content") or ""
            think = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if (piece or think or delta.get("tool_calls")) and first is None:
                first = time.monotonic() - start
            content.append(piece)
            reasoning.append(think)
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc.get("index", len(calls)), {"id": "", "name": "", "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return ModelResponse(
        content="".join(content),
        tool_calls=[_tool_call(c) for _, c in sorted(calls.items())],
        finish_reason=finish,
        usage=usage,
        seconds=time.monotonic() - start,
        first_token_seconds=first,
        reasoning="".join(reasoning),
    )


def _from_completion(data: dict[str, Any], seconds: float) -> ModelResponse:
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError):
        raise BackendError(f"the server's response has no choices: {str(data)[:200]}") from None
    calls = [
        _tool_call({"id": c.get("id", ""), **(c.get("function") or {})}) for c in message.get("tool_calls") or []
    ]
    return ModelResponse(
        content=message.get("content") or "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=_usage(data),
        seconds=seconds,
        first_token_seconds=seconds,
        reasoning=message.get("reasoning_content") or "",
    )


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    args = raw.get("arguments") or "{}"
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {"__unparsed__": args}
    return ToolCall(name=raw.get("name", ""), arguments=args if isinstance(args, dict) else {}, id=raw.get("id", ""))


def _usage(data: dict[str, Any]) -> Usage:
    raw = data.get("usage") or {}
    timings = data.get("timings") or {}
    details = raw.get("prompt_tokens_details") or {}
    processed = timings.get("prompt_n")
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or timings.get("cache_n") or 0),
        prompt_processed=int(processed) if processed is not None else None,
    )
