"""Which workflow takes a task: the bug-fix harness, the question harness, or the free-form loop.

The harnesses hand a task back to the loop when they cannot work on it (no tests that reproduce the report,
nothing in the code index for the question), with what they found as evidence.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from locoder.agent.ask import AskWorkflow
from locoder.agent.fix import FixConfig, FixWorkflow
from locoder.agent.loop import Agent, RunResult
from locoder.events import Error, TaskFinished
from locoder.locations import StatePaths
from locoder.messages import Usage
from locoder.tools.tests import detect_test_command

WORKFLOWS = ("auto", "fix", "ask", "loop")
FIX = re.compile(r"\b(fix(es|ed)?|bugs?|broken|breaks?|fail(s|ing|ed|ure)?|errors?|exceptions?|raises?|crash(es)?|"
                 r"wrong|incorrect|regression|traceback|should (return|be|give|raise|not)|expected|instead of|"
                 r"does(n't| not) work|not working|(returns?|gives?|prints?|outputs?)\b.{0,80}\bbut)\b", re.I)
QUESTION = re.compile(r"^\s*(what|which|where|why|how|who|when|does|do|is|are|can|could|explain|describe|"
                      r"list|show me|tell me)\b", re.I)
# A report written as a statement ("X never expires", "A and B are not equal", "f(1) > f(1) is True"): in a
# project with tests, a statement about how the code behaves is a bug report even without the words above.
SYMPTOM = re.compile(r"\b(does(n't| not)|do(n't| not)|is(n't| not)|are(n't| not)|never|still|differ(s|ent)?|"
                     r"ignores?|keeps?|unexpected(ly)?)\b|\b[A-Za-z_][\w.]*\([^()]*\)", re.I)
CALL_FIRST = re.compile(r"^\s*[A-Za-z_][\w.]*\(")
IMPERATIVE = re.compile(r"^\s*(please\s+)?(fix|add|create|write|implement|make|change|rename|refactor|remove|"
                        r"delete|update|run|install|improve|correct|repair)\b", re.I)


IMPLEMENT = re.compile(r"^\s*(please\s+)?(implement|complete|finish|fill in|write the body of)\b", re.I)
PY_FILE = re.compile(r"[\w./-]+\.py\b")


def route(task: str, workspace: Path) -> str:
    """``fix``, ``ask`` or ``loop`` for a task, from its words and the project's test setup."""
    text = task.strip()
    if QUESTION.match(text) and not IMPERATIVE.match(text):
        return "ask"
    command = detect_test_command(workspace)
    imperative = IMPERATIVE.match(text) and not CALL_FIRST.match(text)  # "add(2, 3) is 6" reports, not asks
    reported = FIX.search(text) or (SYMPTOM.search(text) and not imperative)
    if reported and command is not None and " -m pytest" in command:
        return "fix"
    if IMPLEMENT.match(text) and _names_a_function(text, workspace):
        return "fix"
    return "loop"


def _names_a_function(task: str, workspace: Path) -> bool:
    """Whether the task names a function defined in a Python file it also names (one to write or complete)."""
    from locoder.regular_files import read_regular
    from locoder.repair.localise import definitions, named_in
    from locoder.tools.paths import resolve_in_workspace

    names = named_in(task)
    for rel in PY_FILE.findall(task):
        try:
            source = read_regular(resolve_in_workspace(workspace, rel), 2_000_000).decode("utf-8")
        except (OSError, UnicodeDecodeError, ValueError, Exception):
            continue
        if any(d.name in names for d in definitions(rel, source)):
            return True
    return False


class TaskRouter:
    """Runs each task with the workflow that fits it; everything else is the agent's (``__getattr__``)."""

    def __init__(self, agent: Agent, workspace: Path, state: StatePaths, python: str, workflow: str = "auto",
                 fix: FixConfig | None = None) -> None:
        self.agent, self.workspace, self.python = agent, workspace, python
        self.state = state
        self.workflow, self.fix_config = workflow, fix or FixConfig()

    def __getattr__(self, name: str):
        return getattr(self.agent, name)

    def run(self, task: str) -> RunResult:
        """The task's result; whatever a workflow raises (a bug, a bad input) still ends with an ``error`` and
        a ``result`` record, never a traceback (Ctrl-C and exiting are left alone)."""
        start = time.monotonic()
        try:
            return self._run(task)
        except Exception as exc:  # noqa: BLE001 - turned into the records below
            result = RunResult("error", f"internal error: {type(exc).__name__}: {exc}"[:2000], 0, Usage(),
                               time.monotonic() - start, "error")
            for event in (Error(type(exc).__name__, str(exc)[:2000]), TaskFinished(result)):
                try:
                    self.agent.emit(event)
                except Exception:  # noqa: BLE001, S110 - a failing sink must not hide the result from the others
                    pass
            return result

    def _run(self, task: str) -> RunResult:
        kind = route(task, self.workspace) if self.workflow == "auto" else self.workflow
        if kind == "ask":
            result = AskWorkflow(self.agent, self.workspace, self.state).run(task)
            if result is not None:
                return result
        elif kind == "fix":
            workflow = FixWorkflow(self.agent, self.workspace, self.state, self.python, self.fix_config)
            result = workflow.run(task)
            if result is not None:
                return result
            return self.agent.run(task, evidence=getattr(workflow, "handover", ""), announce=False)
        return self.agent.run(task)
