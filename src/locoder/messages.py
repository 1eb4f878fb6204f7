"""The data types that cross layers: messages, tool calls, tool results, usage.

Plain dataclasses, no behaviour beyond conversion to the OpenAI wire form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One request by the model to run a tool."""

    name: str
    arguments: dict[str, Any]
    id: str = ""

    def key(self) -> str:
        """A canonical string for detecting repeated identical calls."""
        return self.name + json.dumps(self.arguments, sort_keys=True, default=str)

    def render(self, max_value: int = 80) -> str:
        """``name(arg='value', ...)`` with long values shortened, for display and observations."""
        parts = []
        for key, value in self.arguments.items():
            text = repr(value)
            if len(text) > max_value:
                text = text[: max_value - 5] + "...'"
            parts.append(f"{key}={text}")
        return f"{self.name}({', '.join(parts)})"


@dataclass
class ToolResult:
    """What a tool returned; failures are results too (``ok=False``), never exceptions."""

    call: ToolCall
    output: str
    ok: bool = True
    seconds: float = 0.0
    approval: str = ""
    """``yes`` or ``no`` when the user was asked to approve the call (ask mode); empty otherwise."""


@dataclass
class Usage:
    """Token counts of one model request. ``prompt_processed`` is what the server actually
    evaluated (prompt minus the cached prefix), when the server reports it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    prompt_processed: int | None = None

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        if other.prompt_processed is not None:
            self.prompt_processed = (self.prompt_processed or 0) + other.prompt_processed


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    tool_call_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        # Observations go back as user turns: every chat template accepts them, and the loop
        # does not depend on a server's handling of the "tool" role.
        role = "user" if self.role == "tool" else self.role
        return {"role": role, "content": self.content}


@dataclass
class ModelResponse:
    """One completed model turn."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    first_token_seconds: float | None = None
    reasoning: str = ""
