"""A deterministic model for testing the loop's logic: it replays scripted replies in order.

It never stands in for a real model in a test of a feature that must work with one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from locoder.exceptions import BackendError, ConfigError
from locoder.messages import Message, ModelResponse, Usage


class ScriptedModel:
    """Each reply is a string (the content) or a dict (``{"content":..., "finish_reason":...}`` or a
    JSON action, which is serialised as the content). ``{"expect": TEXT, "reply": REPLY}`` gives REPLY only
    when TEXT (a string, or a list of strings) is in the messages sent; otherwise the request fails with a
    ``BackendError`` naming what was missing, so a test can prove what the model was shown (a conversation
    restored in another process, say)."""

    def __init__(self, replies: Sequence[str | dict[str, Any]], name: str = "scripted") -> None:
        self.replies = list(replies)
        self.name = name
        self.requests: list[dict[str, Any]] = []

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        try:
            replies = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read scripted replies from {path}: {exc}") from None
        if not isinstance(replies, list):
            raise ConfigError(f"{path} must hold a JSON list of replies")
        return cls(replies, name=f"scripted:{path}")

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        self.requests.append({"messages": list(messages), "schema": schema, "tools": tools, "temperature": temperature})
        if not self.replies:
            raise BackendError("the scripted model has no replies left")
        reply = _expected(self.replies.pop(0), messages)
        finish = "stop"
        if isinstance(reply, dict) and "content" in reply:
            finish = reply.get("finish_reason", "stop")
            reply = reply["content"]
        content = reply if isinstance(reply, str) else json.dumps(reply)
        return ModelResponse(
            content=content,
            finish_reason=finish,
            usage=Usage(prompt_tokens=sum(len(m.content) for m in messages) // 4, completion_tokens=len(content) // 4),
        )

    def close(self) -> None:
        pass


def _expected(reply: str | dict[str, Any], messages: Sequence[Message]) -> str | dict[str, Any]:
    """The reply itself, or for ``{"expect": ..., "reply": ...}`` its reply once the messages hold what it expects."""
    if not isinstance(reply, dict) or "expect" not in reply:
        return reply
    wanted = [reply["expect"]] if isinstance(reply["expect"], str) else list(reply["expect"])
    sent = "\n".join(m.content for m in messages)
    missing = [text for text in wanted if text not in sent]
    if missing:
        raise BackendError(f"the scripted model expected {missing[0]!r} in the request; it was not there")
    return reply.get("reply", "")
