"""The console view: what a run's live events show in a terminal."""

import io

from rich.console import Console

from locoder.agent.display import ConsoleView
from locoder.events import (
    ApprovalAnswered,
    ApprovalAsked,
    Observation,
    Step,
    Thinking,
    ToolFinished,
    ToolStarted,
)
from locoder.messages import ToolCall, ToolResult


def view(terminal: bool = True) -> tuple[ConsoleView, io.StringIO]:
    out = io.StringIO()
    return ConsoleView(Console(file=out, force_terminal=terminal, width=120)), out


def spinner(v: ConsoleView) -> str | None:
    return str(v._status.renderable.text) if v._status is not None else None


def test_a_call_shows_running_and_stops_while_the_user_is_asked():
    v, _ = view()
    call = ToolCall("run_command", {"command": "ls"})
    v.emit(Thinking(1))
    assert spinner(v) == "step 1: thinking..."
    v.emit(ToolStarted(1, call))
    assert spinner(v) == "step 1: running run_command..."
    v.emit(ApprovalAsked(call, "ls"))
    assert spinner(v) is None  # the question is not drawn over
    v.emit(ApprovalAnswered(call, "yes"))
    assert spinner(v) == "step 1: running run_command..."
    v.emit(ToolFinished(1, ToolResult(call, "a", ok=True)))
    assert spinner(v) is None


def test_a_step_prints_its_calls_and_what_they_returned():
    v, out = view(terminal=False)
    call = ToolCall("run_command", {"command": "ls"})
    result = ToolResult(call, "a\nb", ok=True)
    v.emit(ToolStarted(1, call))
    v.emit(ToolFinished(1, result))
    v.emit(Step(1, thought="look around", calls=[call], observations=[Observation(result, "a\nb")]))
    assert out.getvalue().splitlines() == ["step 1 look around", "  > run_command(command='ls')", "    a", "    b"]
