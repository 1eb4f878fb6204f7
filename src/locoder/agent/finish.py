"""A task does not end as done while its tests fail: a wrapper around the tools that checks ``final_answer``.

It watches the test runs of the current task (the typed ``CommandRun`` of ``run_tests``, and of ``run_command``
with a test command) and the files written (``FileChange``). When
the model calls ``final_answer`` and the last run has failures that are new since the task's first run (or,
for a fix, any failures), or files changed since the last run, the call is refused once with what is wrong.
If the model calls ``final_answer`` again, it has said why: the task ends ``unverified`` (exit code 1), and
the summary says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from locoder.events import Event, TaskStarted
from locoder.exceptions import Submitted
from locoder.messages import CommandRun, FileChange, ToolCall, ToolResult
from locoder.tools.tests import detect_test_command

FIXING = re.compile(r"\b(fix|bug|fail|failing|broken|error|wrong|incorrect)", re.I)


class FinishGate:
    def __init__(self, inner, workspace: Path) -> None:
        self.inner, self.workspace = inner, workspace
        self._reset("")

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _reset(self, task: str) -> None:
        self.task = task
        self.first: set[str] | None = None
        """Failing test ids of the task's first test run (before any change), the failures it came for."""
        self.last: tuple[int | None, int | None, set[str]] | None = None
        self.changed_since_run = False
        self.warned = False

    def emit(self, event: Event) -> None:
        if isinstance(event, TaskStarted):
            self._reset(event.task)

    def execute(self, call: ToolCall) -> ToolResult:
        if call.name == "final_answer":
            problem = self.problem()
            if problem and not self.warned:
                self.warned = True
                return ToolResult(call, f"Not done yet: {problem} Fix that first. If it cannot be fixed, call "
                                        "final_answer again and say why.", ok=False)
            if problem and self.last is not None and (self.last[1] or self.last[0] is None):
                raise Submitted(str(call.arguments.get("answer", "")), status="unverified")
        result = self.inner.execute(call)
        self._watch(call, result)
        return result

    def _watch(self, call: ToolCall, result: ToolResult) -> None:
        data = result.data
        if isinstance(data, FileChange) and result.ok:
            self.changed_since_run = True
            return
        if not isinstance(data, CommandRun):
            return
        if data.tests is None:
            self.changed_since_run = True  # a command may change files too
            return
        failing = set(data.tests.failures)
        if self.first is None and not self.changed_since_run:
            self.first = failing
        self.last = (data.tests.passed, data.tests.failed, failing)
        self.changed_since_run = False

    def problem(self) -> str:
        """Why the task is not done, or ""."""
        if self.last is None:
            if self.changed_since_run and self.first is None and detect_test_command(self.workspace):
                return "files changed and the tests have not run; call run_tests."
            return ""
        passed, failed, failing = self.last
        if self.changed_since_run:
            return "files changed since the last test run; call run_tests to check them."
        if passed is None:
            return "the last test run reported no results (the tests may not collect)."
        if not failed:
            return ""
        new = failing - (self.first or set())
        if new:
            return f"tests that passed before fail now: {', '.join(sorted(new)[:5])}."
        if FIXING.search(self.task):
            shown = f": {', '.join(sorted(failing)[:5])}" if failing else ""
            return f"{failed} test(s) still fail{shown}."
        return ""
