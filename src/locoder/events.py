"""The events of a run, typed: what the loop and the workflows emit and every sink receives.

Each event is a dataclass; ``to_dict()`` is its record in the audit log (``audit/``), the one wire form, so
the log keeps its schema (version 1) while sinks read fields. Transient events (``transient = True``: the
live view of the console) are never written to the log.

=====================  =============  ========================================================================
event                  record type    emitted by
=====================  =============  ========================================================================
``SessionStarted``     session        the factory, once the agent is built
``TaskStarted``        task           the loop, or the workflow (fix, ask) that takes the task
``Thinking``           thinking       before each model request (transient)
``Suggested``          suggestion     the loop, when the advisor suggests a tool (transient)
``ToolStarted``        tool_started   before each tool call (transient)
``ApprovalAsked``      approval       before the user is asked to approve a call (transient)
``ApprovalAnswered``   approved       the user's answer (transient; the step records it per call)
``ToolFinished``       tool_finished  after each tool call, with its typed result (transient)
``Step``               step           after each step: the model turn, the calls, what they returned
``Localised``          localised      the fix workflow: the functions it will try
``Attempt``            attempt        the fix workflow: one repair attempt and whether it stood
``Checked``            checked        the project's checks ran (tests, lint): at a bug-fix task's start, before
                                      the loop's first edit, after each edit (``agent/checks.py``)
``Warned``             warning        anything the user should know that does not stop the task
``Error``              error          a bug or a bad input that ended the task
``TaskFinished``       result         when a task ends (its ``RunResult``)
``ChangesKept``        changes        after ``TaskFinished``: the task's change committed, checkpointed or not
``Progress``           progress       long first-run work, for a progress bar (transient)
``SummaryWritten``     summary        the CLI, once the session summary is written
=====================  =============  ========================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from locoder.messages import ModelResponse, ToolCall, ToolResult, Usage


@dataclass
class RunResult:
    status: str  # submitted | unverified | failed | cancelled | error
    answer: str
    steps: int
    usage: Usage
    seconds: float
    stop: str = ""
    """Why it ended: answer, max_steps, repeated, doom_loop (the same failure again and again, or an edit undone
    and redone), context (the task alone does not fit the window), unparseable, no_repair, cancelled, error..."""

    @property
    def ok(self) -> bool:
        return self.status == "submitted"


@dataclass
class Event:
    """The base of every event: its record type, and whether it is transient (never logged)."""

    type: ClassVar[str] = ""
    transient: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """The audit record: the type, then the fields (for a transient event, ``transient: true`` after
        the step, where the step is a field)."""
        fields = asdict(self)
        head: dict[str, Any] = {"type": self.type}
        if self.transient:
            if "step" in fields:
                head["step"] = fields.pop("step")
            head["transient"] = True
        return {**head, **fields}


@dataclass
class SessionStarted(Event):
    type: ClassVar[str] = "session"
    locoder: str
    model: str
    tool_mode: str
    context_window: int
    server_facts: dict[str, Any] | None
    profile: str
    backend: str
    tools: list[str]
    settings: dict[str, Any]
    system_prompt: str
    sandbox: dict[str, Any]
    policy: dict[str, Any]
    resumed: dict[str, Any] | None = None
    """A resumed session: the saved session's id, its tasks and the messages restored; None: a new session."""
    session: str = ""
    """The audit log's session id (the JSON stream's ``thread_id``)."""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        del out["session"]  # the audit log writes it at the head of every record
        if self.resumed is None:
            del out["resumed"]  # a new session's record is as it always was
        return out


@dataclass
class TaskStarted(Event):
    type: ClassVar[str] = "task"
    task: str
    context_chars: int | None = None
    """The loop: how much context came with the task (memories, docs, the repo map)."""
    workflow: str = ""
    """The workflow that took the task (``fix``, ``ask``); empty: the loop."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "task": self.task}
        if self.context_chars is not None:
            out["context_chars"] = self.context_chars
        if self.workflow:
            out["workflow"] = self.workflow
        return out


@dataclass
class Thinking(Event):
    type: ClassVar[str] = "thinking"
    transient: ClassVar[bool] = True
    step: int


@dataclass
class Suggested(Event):
    """The advisor's suggestion for the coming turn (``Advice.as_dict()``)."""

    type: ClassVar[str] = "suggestion"
    transient: ClassVar[bool] = True
    step: int
    tool: str
    why: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    expected: float = 0.0
    tries: int = 0
    hint: bool = False


@dataclass
class ToolStarted(Event):
    type: ClassVar[str] = "tool_started"
    transient: ClassVar[bool] = True
    step: int
    call: ToolCall
    tool: Any = None
    """The ``Tool`` called (``locoder.tools.base.Tool``: its effects, its subject); None: no such tool."""
    reasoning: str = ""
    """What the model said before the call (``Step.reasoning``), for sinks that show it before the call runs."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "step": self.step, "transient": True, "tool": self.call.name,
                "arguments": self.call.arguments}


@dataclass
class ApprovalAsked(Event):
    type: ClassVar[str] = "approval"
    transient: ClassVar[bool] = True
    call: ToolCall
    preview: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "transient": True, "tool": self.call.name, "arguments": self.call.arguments,
                "preview": self.preview}


@dataclass
class ApprovalAnswered(Event):
    type: ClassVar[str] = "approved"
    transient: ClassVar[bool] = True
    call: ToolCall
    answer: str
    """``yes``, ``no`` or ``always``."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "transient": True, "tool": self.call.name, "answer": self.answer}


@dataclass
class ToolFinished(Event):
    type: ClassVar[str] = "tool_finished"
    transient: ClassVar[bool] = True
    step: int
    result: ToolResult

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "step": self.step, "transient": True, "tool": self.result.call.name,
                "ok": self.result.ok, "seconds": round(self.result.seconds, 3), "approval": self.result.approval}


@dataclass
class Observation:
    """One call's result as a step records it: the typed result, and the text the model was shown."""

    result: ToolResult
    shown: str

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"tool": r.call.name, "ok": r.ok, "output": self.shown, "seconds": round(r.seconds, 3),
                "approval": r.approval}


@dataclass
class ModelTurn:
    """One model request of a step. A workflow's turn (``Step.harness``) records the prompt size, the reply,
    its usage and time; the loop's also the messages, the reasoning, native calls and the finish reason."""

    response: ModelResponse
    prompt_chars: int
    prompt_messages: int = 0
    reasoning: str = ""
    """The reasoning the server returned, or the thinking split from the reply."""

    def to_dict(self, harness: bool) -> dict[str, Any]:
        r = self.response
        if harness:
            return {"prompt_chars": self.prompt_chars, "raw_output": r.content, "usage": asdict(r.usage),
                    "model_seconds": round(r.seconds, 3)}
        return {"prompt_messages": self.prompt_messages, "prompt_chars": self.prompt_chars, "raw_output": r.content,
                "reasoning": self.reasoning,
                "native_calls": [{"tool": c.name, "arguments": c.arguments} for c in r.tool_calls],
                "finish_reason": r.finish_reason, "usage": asdict(r.usage), "model_seconds": round(r.seconds, 3),
                "first_token_seconds": r.first_token_seconds}


@dataclass
class Step(Event):
    """One step: the loop's (a model turn, the calls parsed from it, what they returned) or a workflow's
    (``harness``: a tool call, a model turn, or what it retrieved). Filled in as the step goes; a field
    still None is left out of the record (the step stopped before it)."""

    type: ClassVar[str] = "step"
    step: int
    phase: str = ""
    """The workflow's phase (reproduce, repair, validate, retrieve, answer); empty in the loop."""
    harness: bool = False
    compacted: int | None = None
    """How many older messages were condensed or shortened to fit the context window before the request."""
    condensed: dict[str, Any] | None = None
    """When they were (``window.Fitted.as_dict()``): messages condensed into one, messages cut, tokens
    before and after, the budget, and whether the counts came from the model's tokenizer or an estimate."""
    suggestion: dict[str, Any] | None = None
    turn: ModelTurn | None = None
    format_error: str | None = None
    thought: str | None = None
    calls: list[ToolCall] | None = None
    """Every call parsed from the reply (also those past the per-turn limit, which did not run)."""
    observations: list[Observation] | None = None
    retrieved: list[str] | None = None
    temperature: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "step": self.step}
        if self.harness:
            out.update(phase=self.phase, harness=True)
        for name in ("compacted", "condensed", "suggestion"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.turn is not None:
            out.update(self.turn.to_dict(self.harness))
        for name in ("format_error", "thought"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.calls is not None:
            out["calls"] = [{"tool": c.name, "arguments": c.arguments} for c in self.calls]
        if self.observations is not None:
            out["observations"] = [o.to_dict() for o in self.observations]
        if self.retrieved is not None:
            out["retrieved"] = self.retrieved
        if self.temperature is not None:
            out["temperature"] = self.temperature
        return out

    @property
    def reasoning(self) -> str:
        """What the model said before its calls: its thinking (the server's reasoning, or ``<think>``) and the
        thought of its reply."""
        parts = (self.turn.reasoning if self.turn is not None else "", self.thought or "")
        return "\n\n".join(p for p in parts if p)

    @property
    def results(self) -> list[ToolResult]:
        """The results of the calls that ran, in order."""
        return [o.result for o in self.observations or []]


@dataclass
class Localised(Event):
    type: ClassVar[str] = "localised"
    candidates: list[str]
    """The functions the fix workflow will try, best first, each described with its score."""


@dataclass
class Attempt(Event):
    type: ClassVar[str] = "attempt"
    number: int
    of: int
    ok: bool
    function: str
    """``path:qualname`` of the function repaired."""
    temperature: float
    form: str


@dataclass
class Checked(Event):
    """The project's checks ran: the tests and the linter (``agent/checks.py``)."""

    type: ClassVar[str] = "checked"
    phase: str
    """``start`` (a bug-fix task, before its first step), ``before`` (the baseline, before the loop's first
    edit of a file) or ``after`` (after an edit)."""
    commands: list[str]
    seconds: float
    passed: int | None = None
    """None (with ``failed``): no test ran, or the run printed no counts."""
    failed: int | None = None
    failing: list[str] = field(default_factory=list)
    """The failing test ids the run named."""
    lint_findings: int | None = None
    """Findings of the lint run; None: no linter ran."""
    new: list[str] = field(default_factory=list)
    """``after``: what fails now that did not before any change (test ids, lint findings)."""
    step: int | None = None


@dataclass
class Warned(Event):
    type: ClassVar[str] = "warning"
    message: str
    kind: str = ""
    """What it is about, where a reader may act on it (``untrusted_config``); empty: a plain warning."""
    ignored: list[str] | None = None
    """``untrusted_config``: the settings that were ignored."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.kind:
            out["kind"] = self.kind
        if self.ignored is not None:
            out["ignored"] = self.ignored
        out["message"] = self.message
        return out


@dataclass
class Error(Event):
    type: ClassVar[str] = "error"
    error: str
    """The exception's class name."""
    message: str
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"type": self.type} if self.step is None else {"type": self.type, "step": self.step}
        return {**head, "error": self.error, "message": self.message}


@dataclass
class TaskFinished(Event):
    type: ClassVar[str] = "result"
    result: RunResult

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self.result)}


@dataclass
class ChangesKept(Event):
    """What became of a task's change (``agent/changes.py``): committed, kept in a checkpoint, or left."""

    type: ClassVar[str] = "changes"
    kept_as: str
    """``commit``, ``checkpoint`` (outside git) or ``uncommitted`` (turned off, or declined)."""
    files: list[str]
    """The task's files, relative to the workspace."""
    commit: str = ""
    subject: str = ""
    left: list[str] = field(default_factory=list)
    """Files the user had edited before the task and the task changed too: left uncommitted."""


@dataclass
class Progress(Event):
    type: ClassVar[str] = "progress"
    transient: ClassVar[bool] = True
    label: str
    done: int
    total: int


@dataclass
class SummaryWritten(Event):
    type: ClassVar[str] = "summary"
    summary: dict[str, Any]
    """``SessionSummary.finish()``: what was asked and done, tokens and time, next steps."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.summary}


__all__ = ["ApprovalAnswered", "ApprovalAsked", "Attempt", "ChangesKept", "Checked", "Error", "Event", "Localised", "ModelTurn", "Observation",
           "Progress", "RunResult", "SessionStarted", "Step", "Suggested", "SummaryWritten", "TaskFinished",
           "TaskStarted", "Thinking", "ToolFinished", "ToolStarted", "Warned"]
