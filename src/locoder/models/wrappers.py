"""Models wrapped to change what they are sent, without touching the backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from locoder.messages import Message, ModelResponse
from locoder.protocols import Model


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """Put the system message's text at the top of the first user turn (for models that ignore the
    system role). The result is the same for every turn, so the prompt prefix stays cacheable."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if not system:
        return rest
    for i, message in enumerate(rest):
        if message.role == "user":
            rest[i] = Message("user", f"{system}\n\n# Task\n{message.content}")
            return rest
    return [Message("user", system), *rest]


class FoldSystemPrompt:
    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name = inner.name
        count = getattr(inner, "count_tokens", None)
        if count is not None:
            self.count_tokens = count

    def query(self, messages: Sequence[Message], *, schema: dict[str, Any] | None = None,
              tools: list[dict[str, Any]] | None = None, temperature: float | None = None) -> ModelResponse:
        return self.inner.query(fold_system(messages), schema=schema, tools=tools, temperature=temperature)

    def close(self) -> None:
        self.inner.close()
