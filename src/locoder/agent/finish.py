"""A task does not end as done while its checks fail: a wrapper around the tools that checks ``final_answer``,
and runs the automatic checks after the loop's edits (``checks.py``).

It watches the test runs of the current task (the typed ``CommandRun`` of ``run_tests``, and of ``run_command``
with a test command), the files written (``FileChange``) and the automatic checks, all in one ``CheckState``.
When the model calls ``final_answer`` and the last run has failures that are new since the task's first run (or,
for a fix, any failures), lint findings that were not there before, or files changed since the last run, the
call is refused once with what is wrong. If the model calls ``final_answer`` again, it has said why: the task
ends ``unverified`` (exit code 1), and the summary says so.

The loop's calls are those it announced with ``ToolStarted``; a workflow's own calls (the fix harness validates
its repairs itself) get no automatic checks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from locoder.agent.checks import FIXING, AutoChecks, CheckState, checked_event, edited_path, start_evidence
from locoder.events import Checked, Event, TaskFinished, TaskStarted, ToolStarted
from locoder.exceptions import Submitted
from locoder.messages import CheckRun, CommandRun, FileChange, ToolCall, ToolResult
from locoder.tools.tests import detect_test_command

__all__ = ["FIXING", "FinishGate"]


class FinishGate:
    def __init__(self, inner, workspace: Path, checks: AutoChecks | None = None) -> None:
        self.inner, self.workspace, self.checks = inner, workspace, checks
        self._announced: ToolCall | None = None
        self._step: int | None = None
        self._in_task = False
        self._pending: CheckRun | None = None
        """The checks run at the start of a bug-fix task, recorded once its ``TaskStarted`` is out."""
        self._reset("")

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _reset(self, task: str) -> None:
        self.state = CheckState(task)
        self.warned = False
        if self.checks is not None:
            self.checks.reset()

    def emit(self, event: Event) -> None:
        if isinstance(event, TaskStarted):
            self._reset(event.task)
            self._in_task = True
            pending, self._pending = self._pending, None
            if pending is not None and pending.tests is not None and pending.tests.tests is not None:
                self.state.record_tests(pending.tests.tests)
                self._emit(checked_event("start", pending, self.state, None))
        elif isinstance(event, ToolStarted):
            self._announced, self._step = event.call, event.step
        elif isinstance(event, Checked) and event.phase == "start" and self.state.first is None:
            self.state.first = set(event.failing)  # a workflow's own run before any change (the fix harness)
        elif isinstance(event, TaskFinished):
            self._in_task = False

    def _emit(self, event: Event) -> None:
        if self.checks is not None:
            self.checks.emit(event)

    def task_evidence(self, task: str) -> str:
        """For the loop's task context: the checks at the start of a bug-fix task ("" for other tasks, and for
        a task a workflow hands over: it ran the tests first)."""
        if self.checks is None or self._in_task:
            return ""
        self._pending = self.checks.at_start(task)
        return start_evidence(self._pending) if self._pending is not None else ""

    def execute(self, call: ToolCall) -> ToolResult:
        if call.name == "final_answer":
            problem = self.problem()
            if problem and not self.warned:
                self.warned = True
                return ToolResult(call, f"Not done yet: {problem} Fix that first. If it cannot be fixed, call "
                                        "final_answer again and say why.", ok=False)
            if problem and self._checks_fail():
                raise Submitted(str(call.arguments.get("answer", "")), status="unverified")
        loop = self.checks is not None and call is self._announced
        path = edited_path(self.inner.tools.get(call.name), call.arguments) if loop else ""
        if path:
            self.checks.before(self.state, path, self._step)
        result = self.inner.execute(call)
        self._watch(call, result)
        data = result.data
        if loop and isinstance(data, FileChange) and result.ok and data.changed:
            note = self.checks.after(self.state, data.path.removeprefix("./"), self._step)
            if note:
                result = dataclasses.replace(result, output=f"{result.output}\n\n{note}")
        return result

    def _checks_fail(self) -> bool:
        tests = self.state.tests
        return bool(self.state.lint_new) or (tests is not None and (bool(tests.failed) or tests.passed is None))

    def _watch(self, call: ToolCall, result: ToolResult) -> None:
        data = result.data
        if isinstance(data, FileChange) and result.ok:
            self.state.changed_since_run = True
            return
        if not isinstance(data, CommandRun):
            return
        if data.tests is None:
            self.state.changed_since_run = True  # a command may change files too
            return
        self.state.record_tests(data.tests)

    def problem(self) -> str:
        """Why the task is not done, or ""."""
        state = self.state
        if state.changed_since_run:
            if state.tests is not None:
                return "files changed since the last test run; call run_tests to check them."
            if state.first is None and detect_test_command(self.workspace):
                return "files changed and the tests have not run; call run_tests."
        return state.failing()
