"""The data types that cross layers: messages, tool calls, tool results (text for the model, typed data for
everyone else), usage.

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


@dataclass(frozen=True)
class TestCounts:
    """What a test run reported."""

    __test__ = False  # not a pytest test class

    passed: int | None
    """None (with ``failed``): the run printed no counts (it did not collect, or it crashed)."""
    failed: int | None
    failures: tuple[str, ...] = ()
    """Ids of the failing tests the run named (``test_calc.py::test_add``), in order."""


@dataclass(frozen=True)
class CommandRun:
    """A shell command a tool ran, and how it ended."""

    command: str
    exit_code: int | None
    """As the shell reports it (a signal N is 128 + N); None: it timed out or the sandbox stopped it."""
    tests: TestCounts | None = None
    """Set when the command ran tests (``run_tests``, or a test runner through ``run_command``)."""


@dataclass(frozen=True)
class FileChange:
    """A file a tool wrote."""

    path: str
    """As the call named it, relative to the workspace."""
    before_hash: str | None
    """SHA-256 of the bytes before; None: the file was created."""
    after_hash: str
    diff: str = ""
    """A unified diff of the change (cut to a readable length)."""

    @property
    def changed(self) -> bool:
        return self.before_hash != self.after_hash


@dataclass(frozen=True)
class LintFinding:
    """One finding of a linter: where, which rule, what it says."""

    path: str
    """Relative to the workspace."""
    rule: str
    """The linter's code for it (``F401``, ``no-unused-vars``); empty when it prints none."""
    message: str
    line: int = 0

    def key(self) -> tuple[str, str, str]:
        """What makes two findings the same one before and after an edit: not the line, which moves."""
        return self.path, self.rule, self.message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule + ' ' if self.rule else ''}{self.message}"


@dataclass(frozen=True)
class LintRun:
    """A linter run by the automatic checks."""

    linter: str
    """``ruff``, ``flake8``, ``eslint``, ``clippy``, ``go vet`` or ``custom`` (``--lint-cmd``)."""
    command: str
    exit_code: int | None
    findings: tuple[LintFinding, ...] = ()
    missing: bool = False
    """The linter could not be started (not installed: exit 127); its findings count as none."""


@dataclass(frozen=True)
class CheckRun:
    """The project's checks, run once: the tests and the linter (either may be absent), with the test run's
    failures collapsed for the model (``logs.digest``)."""

    tests: CommandRun | None
    lint: LintRun | None
    seconds: float
    report: str = ""
    """The test output's key events (failing tests, exceptions with their user frames), not the raw text."""


ToolData = CommandRun | FileChange
"""The typed data a result may carry beside its text."""


@dataclass
class ToolResult:
    """What a tool returned; failures are results too (``ok=False``), never exceptions. ``output`` is what the
    model reads; ``data`` is what the session knows for sure (sinks read it, never the text)."""

    call: ToolCall
    output: str
    ok: bool = True
    seconds: float = 0.0
    approval: str = ""
    """``yes`` or ``no`` when the user was asked to approve the call (ask mode); empty otherwise."""
    data: ToolData | None = None


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
