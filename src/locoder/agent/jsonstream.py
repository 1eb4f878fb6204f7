"""The headless JSON stream of ``locoder run --json``: an event sink that writes one JSON object per line, in
the shape of ``codex exec --json`` (``thread.started``, ``turn.started``, ``item.started`` / ``item.completed``,
``turn.completed`` or ``turn.failed``). The schema is ``jsonstream.schema.json`` beside this file; the README's
"Headless and scriptable" section has the tables.

Every ``item.started`` is followed by an ``item.completed`` with the same ``id`` and ``type``. Items that come
before a task starts (warnings of the session's start) are held and written after its ``turn.started``.
Strings are redacted as the audit log's are. A stream that cannot be written (the reader went away) is
dropped with one line on stderr; the task goes on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from locoder.events import (
    Attempt,
    Error,
    Event,
    Localised,
    RunResult,
    SessionStarted,
    Step,
    TaskFinished,
    TaskStarted,
    ToolFinished,
    ToolStarted,
    Warned,
)
from locoder.messages import CommandRun, FileChange, ToolCall, ToolResult, Usage

SCHEMA = Path(__file__).with_name("jsonstream.schema.json")
"""The JSON Schema of one line of the stream."""

ANSWERED = ("submitted", "unverified")
"""The outcomes with a final answer: an ``agent_message`` item, then ``turn.completed``."""


class JsonStream:
    """An ``EventSink`` writing the stream to ``out`` (a text file, flushed after each line)."""

    def __init__(self, out: IO[str]) -> None:
        from locoder.safety.secrets import secret_env_values

        self.out = out
        self.failed = False
        self._next_id = 0
        self._turn = False
        self._held: list[dict[str, Any]] = []
        """Items that came while no turn was open, written once one starts."""
        self._running: list[tuple[str | None, ToolCall, Any, str | None]] = []
        """Calls started and not finished: the id and type of their ``item.started`` (None, None: none was
        written; the item gets its id when it completes), the call, the tool."""
        self._reasoned: set[int] = set()
        self._secrets = tuple(secret_env_values(os.environ))

    # -- writing --------------------------------------------------------------------------------------------
    def write(self, line: dict[str, Any]) -> None:
        """One line of the stream."""
        if self.failed:
            return
        from locoder.safety.secrets import redact_obj

        text = json.dumps(redact_obj(line, self._secrets), ensure_ascii=False, default=str)
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError) as exc:  # a closed pipe, or a closed file
            self.failed = True
            print(f"locoder: the JSON stream cannot be written ({exc}); the task goes on", file=sys.stderr)

    def _new_id(self) -> str:
        item_id = f"item_{self._next_id}"
        self._next_id += 1
        return item_id

    def _completed(self, item: dict[str, Any], item_id: str | None = None) -> None:
        line = {"type": "item.completed", "item": {"id": item_id or self._new_id(), **item}}
        if self._turn:
            self.write(line)
        else:
            self._held.append(line)

    # -- the events -----------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _session(self, event: SessionStarted) -> None:
        self.write({"type": "thread.started", "thread_id": event.session})

    def _task(self, event: TaskStarted) -> None:
        self._turn, self._running, self._reasoned = True, [], set()
        self.write({"type": "turn.started"})
        held, self._held = self._held, []
        for line in held:
            self.write(line)

    def _reasoning(self, step: int, text: str) -> None:
        if text and step not in self._reasoned:
            self._reasoned.add(step)
            self._completed({"type": "reasoning", "text": text})

    def _tool_started(self, event: ToolStarted) -> None:
        self._reasoning(event.step, event.reasoning)
        item_id, kind = None, "command_execution" if event.tool is not None and "run" in event.tool.effects else None
        if kind is not None:
            item_id = self._new_id()
            item = {"type": kind, "command": _command(event.call, event.tool), "aggregated_output": "",
                    "exit_code": None, "status": "in_progress"}
            self.write({"type": "item.started", "item": {"id": item_id, **item}})
        self._running.append((item_id, event.call, event.tool, kind))

    def _tool_finished(self, event: ToolFinished) -> None:
        call = event.result.call
        found = next((r for r in reversed(self._running) if r[1] is call or r[1] == call), None)
        if found is None:
            self._completed(call_item(event.result))
            return
        self._running.remove(found)
        item_id, _, tool, kind = found
        writes = tool is not None and "write" in tool.effects
        self._completed(call_item(event.result, kind, writes, getattr(tool, "subject", "")), item_id)

    def _step(self, event: Step) -> None:
        if not event.harness:
            # The reasoning of a step that ran no call (its calls wrote it already), and an unusable reply.
            self._reasoning(event.step, event.reasoning)
            if event.format_error:
                self._completed({"type": "error", "message": f"unusable reply: {event.format_error}"})
            return
        if event.reasoning:
            self._completed({"type": "reasoning", "text": event.reasoning})
        if event.retrieved:
            self._completed(_workflow(event.phase or "retrieve", "read " + "; ".join(event.retrieved),
                                      {"sources": event.retrieved}))
        for observation in event.observations or []:
            self._completed(call_item(observation.result))

    def _localised(self, event: Localised) -> None:
        self._completed(_workflow("localise", "likely places, best first: " + "; ".join(event.candidates),
                                  {"candidates": event.candidates}))

    def _attempt(self, event: Attempt) -> None:
        outcome = "the failing tests pass" if event.ok else "the tests still fail; undone"
        text = f"repair attempt {event.number} of {event.of} on {event.function}: {outcome}"
        details = {"number": event.number, "of": event.of, "function": event.function,
                   "temperature": event.temperature, "form": event.form}
        self._completed(_workflow("repair", text, details, ok=event.ok))

    def _warned(self, event: Warned) -> None:
        self._completed({"type": "error", "message": str(event.message)})

    def _error(self, event: Error) -> None:
        self.write({"type": "error", "message": f"{event.error}: {event.message}"})

    def error(self, message: str) -> None:
        """A top-level ``error`` line: what ended the run before or outside a task (bad settings)."""
        self.write({"type": "error", "message": message})

    def _finished(self, event: TaskFinished) -> None:
        result = event.result
        for item_id, call, tool, kind in self._running:
            if kind is not None:  # started and never finished: interrupted, or the task stopped inside it
                self._completed({"type": kind, "command": _command(call, tool), "aggregated_output": "",
                                 "exit_code": None, "status": "failed"}, item_id)
        self._running = []
        if result.status in ANSWERED:
            self._completed({"type": "agent_message", "text": result.answer})
        self.write(turn_end(result))
        self._turn = False


_HANDLERS = {SessionStarted: JsonStream._session, TaskStarted: JsonStream._task,
             ToolStarted: JsonStream._tool_started, ToolFinished: JsonStream._tool_finished, Step: JsonStream._step,
             Localised: JsonStream._localised, Attempt: JsonStream._attempt, Warned: JsonStream._warned,
             Error: JsonStream._error, TaskFinished: JsonStream._finished}


def turn_end(result: RunResult) -> dict[str, Any]:
    """``turn.completed`` for a task that ended with an answer (``status``: submitted, or unverified when its
    tests still fail), ``turn.failed`` with the reason otherwise; both with the usage and why it stopped."""
    tail = {"usage": usage(result.usage), "status": result.status, "stop": result.stop}
    if result.status in ANSWERED:
        return {"type": "turn.completed", **tail}
    return {"type": "turn.failed", "error": {"message": result.answer}, **tail}


def usage(used: Usage) -> dict[str, int]:
    return {"input_tokens": used.prompt_tokens, "cached_input_tokens": used.cached_tokens,
            "output_tokens": used.completion_tokens}


def call_item(result: ToolResult, kind: str | None = None, writes: bool = False, subject: str = "") -> dict[str, Any]:
    """The item of a finished call. Its type is ``kind`` where its ``item.started`` gave one, else what its
    typed result says (``CommandRun``: a command, ``FileChange``: a file change), else a file change for a
    tool that ``writes`` files (one that failed: no change, the error), else a ``tool_call``."""
    data, call = result.data, result.call
    if kind is None:
        kind = ("command_execution" if isinstance(data, CommandRun) else
                "file_change" if isinstance(data, FileChange) or writes else "tool_call")
    declined = result.approval == "no"
    status = "declined" if declined else "completed" if result.ok else "failed"
    if kind == "command_execution":
        exit_code = data.exit_code if isinstance(data, CommandRun) else None
        if isinstance(data, CommandRun) and not declined:
            status = "completed" if exit_code == 0 else "failed"
        command = data.command if isinstance(data, CommandRun) else _command(call, subject)
        return {"type": kind, "command": command, "aggregated_output": result.output, "exit_code": exit_code,
                "status": status}
    if kind == "file_change":
        changes = ([{"path": data.path, "kind": "add" if data.before_hash is None else "update"}]
                   if isinstance(data, FileChange) else [])
        item: dict[str, Any] = {"type": kind, "changes": changes, "status": status}
        if status != "completed":
            item["error"] = {"message": result.output}
        return item
    return {"type": "tool_call", "tool": call.name, "arguments": call.arguments, "output": result.output,
            "status": status}


def _command(call: ToolCall, tool_or_subject: Any) -> str:
    """The command line of a call that runs something: its subject where that is a command line or code
    (``run_command``, ``run_python``), else the call as written (``install_package(name='numpy')``)."""
    subject = tool_or_subject if isinstance(tool_or_subject, str) else getattr(tool_or_subject, "subject", "")
    value = call.arguments.get(subject)
    return value if isinstance(value, str) and subject in ("command", "code") else call.render()


def _workflow(phase: str, text: str, details: dict[str, Any], ok: bool = True) -> dict[str, Any]:
    """A step of the fix or ask workflow that is not a tool call (localising, a repair attempt, retrieving)."""
    return {"type": "workflow_step", "phase": phase, "text": text, "details": details,
            "status": "completed" if ok else "failed"}
