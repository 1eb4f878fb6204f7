"""Which way of getting tool calls works with a server and model: found once, then cached.

``native`` (``tools=`` returns structured calls), ``constrained`` (JSON-schema output is honoured), or
``text`` (neither; the reply is parsed as text). The probe is two short requests; the answer is kept in
``~/.cache/locoder/capabilities.json`` per server URL and model.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from locoder.atomic import write_atomic
from locoder.exceptions import BackendError
from locoder.locations import cache_dir
from locoder.messages import Message

PING_TOOL = {
    "type": "function",
    "function": {
        "name": "ping",
        "description": "Send a word back.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
}
PING_SCHEMA = {
    "type": "object",
    "properties": {"tool": {"const": "ping"}, "arguments": {"type": "object", "properties": {"word": {"type": "string"}},
                                                            "required": ["word"]}},
    "required": ["tool", "arguments"],
}
PROBE_MAX_TOKENS = 80
PROBE = [Message("user", 'Call the tool ping with word "hello". Reply only with the tool call.')]


def cache_path() -> Path:
    return cache_dir() / "capabilities.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(path: Path, data: dict[str, Any]) -> None:
    try:
        write_atomic(path, json.dumps(data, indent=1))
    except OSError:
        pass  # a cache that cannot be written only means probing again next time


def probe_openai(model: Any, path: Path | None = None) -> str:
    """Probe an ``OpenAICompatModel`` (or answer from the cache)."""
    from locoder.models.openai_compat import OpenAICompatModel

    path = path or cache_path()
    key = f"{model.base_url}|{model.resolve_model_name()}"
    cache = _load(path)
    if isinstance(cache.get(key), dict) and cache[key].get("tool_mode") in {"native", "constrained", "text"}:
        return str(cache[key]["tool_mode"])
    # Short replies are enough to see a tool call; the user's max_tokens could make the probe slow.
    model = OpenAICompatModel(replace(model.config, model=model.name, max_tokens=PROBE_MAX_TOKENS))
    mode = "text"
    try:
        reply = model.query(PROBE, tools=[PING_TOOL])
        if any(c.name == "ping" for c in reply.tool_calls):
            mode = "native"
    except BackendError as exc:
        if exc.retryable:
            raise
    if mode == "text":
        try:
            reply = model.query(PROBE, schema=PING_SCHEMA)
            if json.loads(reply.content).get("tool") == "ping":
                mode = "constrained"
        except (BackendError, ValueError, AttributeError) as exc:
            if isinstance(exc, BackendError) and exc.retryable:
                raise
    model.close()
    cache[key] = {"tool_mode": mode}
    _save(path, cache)
    return mode


def auto_tool_mode(kind: str, model: Any) -> str:
    """The tool mode for ``--tool-mode auto`` on this backend."""
    inner = getattr(model, "inner", model)
    if kind == "openai":
        return probe_openai(inner)
    if kind == "ollama":
        capabilities = inner.show().get("capabilities") or []
        return "native" if "tools" in capabilities else "constrained"
    if kind == "transformers":
        return "native"  # the chat template renders the tools; the family's syntax is parsed from text
    return "constrained"
