"""The check loop: after the loop's edits the project's checks (its tests and its linter, ``tools/checks.py``)
run by themselves, and what fails goes back to the model with the edit's result, collapsed.

``CheckState`` is the one record of what the current task's checks showed: the tests that failed before any
change, the last test run, the lint findings of each file before the task changed it, and what fails now
that did not then. The finish gate (``finish.py``) reads it to refuse ``final_answer``; ``AutoChecks`` fills
it: before the loop's first edit of a task (the baseline), after each edit, and, for a bug-fix task the loop
takes, once before the first step (the result goes into the task's context). Each run is a ``Checked``
event. After ``fix_attempts`` rounds in a row with failures the checks stop running after edits for that
task (the model is told once; the gate still asks for a test run before the task ends).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from locoder.events import Checked, Event
from locoder.messages import CheckRun, LintFinding, LintRun, TestCounts
from locoder.tools.base import Tool, ToolContext
from locoder.tools.checks import Linter, check_command, custom_linter, detect_linter, run_checks

FIXING = re.compile(r"\b(fix|bug|fail|failing|broken|error|wrong|incorrect)", re.I)
"""A task that comes to fix something: its tests may fail at the start, and must pass at the end."""


@dataclass
class CheckConfig:
    auto: bool = True
    """Run the checks after the loop's edits (``--no-auto-checks``: off)."""
    test_command: str = ""
    """``--test-cmd``; empty: the command ``run_tests`` finds."""
    lint_command: str = ""
    """``--lint-cmd`` (``{files}``: the changed files); empty: the linter the project shows, if any."""
    fix_attempts: int = 3
    """Rounds in a row of failing checks shown to the model before the checks stop for the task."""
    report_tokens: int = 400
    """Size of the collapsed test failures shown after an edit."""


@dataclass
class CheckState:
    """What the checks of the current task showed (reset when a task starts)."""

    task: str = ""
    first: set[str] | None = None
    """Failing test ids of the task's first test run before any change: the failures it came for."""
    tests: TestCounts | None = None
    """The last test run."""
    changed_since_run: bool = False
    lint_before: dict[str, Counter] = field(default_factory=dict)
    """Lint findings (``LintFinding.key``) of each file before the task first changed it."""
    lint_whole: bool = False
    """``lint_before`` covers the whole project (a linter that takes no paths): a file not in it had none."""
    lint_new: list[LintFinding] = field(default_factory=list)
    """Findings of the last lint run that were not there before the task changed the file."""
    rounds: int = 0
    """Check runs in a row after edits that had failures."""
    stopped: bool = False
    """The check loop gave up for this task (``fix_attempts`` rounds)."""

    def record_tests(self, counts: TestCounts) -> None:
        failing = set(counts.failures)
        if self.first is None and not self.changed_since_run:
            self.first = failing
        self.tests = counts
        self.changed_since_run = False

    def record_lint_baseline(self, lint: LintRun, paths: list[str]) -> None:
        for path in paths:
            self.lint_before.setdefault(path, Counter())
        if not paths:
            self.lint_whole = True
        for finding in lint.findings:
            if not paths or finding.path in paths:
                self.lint_before.setdefault(finding.path, Counter())[finding.key()] += 1

    def record_lint(self, lint: LintRun) -> None:
        seen: Counter = Counter()
        new = []
        for finding in lint.findings:
            if finding.path not in self.lint_before and not self.lint_whole:
                continue  # a file the task did not change (the baseline never saw it)
            seen[finding.key()] += 1
            if seen[finding.key()] > self.lint_before.get(finding.path, Counter())[finding.key()]:
                new.append(finding)
        self.lint_new = new

    def new_failures(self) -> list[str]:
        """Tests failing in the last run that did not fail before any change."""
        if self.tests is None or not self.tests.failed:
            return []
        return sorted(set(self.tests.failures) - (self.first or set()))

    def failing(self) -> str:
        """What the last checks show failing that counts against the task, or "": tests that passed before
        and fail now, for a fix any failing test, a run with no results, lint findings new since the start."""
        problems = []
        tests = self.tests
        if tests is not None and tests.passed is None:
            problems.append("the last test run reported no results (the tests may not collect).")
        elif tests is not None and tests.failed:
            new = self.new_failures()
            if new:
                problems.append(f"tests that passed before fail now: {', '.join(new[:5])}.")
            elif FIXING.search(self.task):
                shown = f": {', '.join(sorted(tests.failures)[:5])}" if tests.failures else ""
                problems.append(f"{tests.failed} test(s) still fail{shown}.")
        if self.lint_new:
            shown = "; ".join(str(f) for f in self.lint_new[:5])
            problems.append(f"{len(self.lint_new)} lint finding(s) that were not there before: {shown}.")
        return " ".join(problems)


def checked_event(phase: str, run: CheckRun, state: CheckState, step: int | None) -> Checked:
    tests = run.tests.tests if run.tests is not None else None
    lint = run.lint
    new = state.new_failures() if phase == "after" else []
    if phase == "after" and lint is not None:
        new += [str(f) for f in state.lint_new]
    return Checked(phase, [c.command for c in (run.tests, lint) if c is not None], round(run.seconds, 3),
                   tests.passed if tests else None, tests.failed if tests else None,
                   list(tests.failures) if tests else [], None if lint is None or lint.missing else len(lint.findings),
                   new, step)


class AutoChecks:
    """Runs the checks for the finish gate: the baseline before the loop's edits, the check after each, the
    start of a bug-fix task; records each in the ``CheckState`` and emits it as a ``Checked`` event."""

    def __init__(self, ctx: ToolContext, config: CheckConfig, emit: Callable[[Event], None]) -> None:
        self.ctx, self.config, self.emit = ctx, config, emit
        self.linter: Linter | None = custom_linter(config.lint_command) if config.lint_command \
            else detect_linter(ctx.workspace)
        self.changed: list[str] = []
        """Files the loop changed in this task (the linter is run on them)."""

    def reset(self) -> None:
        self.changed = []

    @property
    def tests(self) -> str | None:
        return check_command(self.ctx.workspace, self.config.test_command)

    def at_start(self, task: str) -> CheckRun | None:
        """The tests of a bug-fix task before its first step, or None (not a fix, or no tests)."""
        if not (self.config.auto and FIXING.search(task) and self.tests):
            return None
        return run_checks(self.ctx, self.tests, None, [], self.config.report_tokens)

    def before(self, state: CheckState, call_path: str, step: int | None) -> None:
        """Before the loop's edit of ``call_path``: the tests once per task (when none ran yet), and the lint
        findings of that file (or of the whole project, for a linter that takes no paths)."""
        if not self.config.auto or state.stopped:
            return
        tests = self.tests if state.first is None and state.tests is None else None
        linter = self.linter
        if linter is not None and linter.takes_paths:
            if not linter.lints(call_path) or call_path in state.lint_before:
                linter = None
            elif not (self.ctx.workspace / call_path).is_file():
                state.lint_before[call_path] = Counter()  # a new file had no findings
                linter = None
        elif linter is not None and state.lint_whole:
            linter = None
        if not tests and linter is None:
            return
        paths = [call_path] if linter is not None and linter.takes_paths else []
        run = run_checks(self.ctx, tests, linter, paths, self.config.report_tokens)
        if run.tests is not None and run.tests.tests is not None:
            state.record_tests(run.tests.tests)
        if run.lint is not None and not run.lint.missing:
            state.record_lint_baseline(run.lint, paths)
        self.emit(checked_event("before", run, state, step))

    def after(self, state: CheckState, path: str, step: int | None) -> str:
        """After the loop's edit of ``path``: run the checks; the text for the model ("" when they did not run)."""
        if not self.config.auto or state.stopped:
            return ""
        if path not in self.changed:
            self.changed.append(path)
        paths = [p for p in self.changed if (self.ctx.workspace / p).is_file()]
        run = run_checks(self.ctx, self.tests, self.linter, paths, self.config.report_tokens)
        if run.tests is None and run.lint is None:
            return ""
        if run.tests is not None and run.tests.tests is not None:
            state.record_tests(run.tests.tests)
        if run.lint is not None and not run.lint.missing:
            state.record_lint(run.lint)
        self.emit(checked_event("after", run, state, step))
        return self._note(state, run)

    def _note(self, state: CheckState, run: CheckRun) -> str:
        ran = _ran(run)
        problem = state.failing()
        if not problem:
            state.rounds = 0
            return f"[Checks after this change pass: {ran}.]"
        state.rounds += 1
        limit = self.config.fix_attempts
        parts = [f"[Checks after this change fail (round {state.rounds} of {limit}): {ran}.]", f"Failing: {problem}"]
        if run.report and run.tests is not None and run.tests.exit_code != 0:
            parts.append(f"Test output, collapsed:\n{run.report}")
        if state.rounds >= limit:
            state.stopped = True
            parts.append(f"[The checks failed {limit} times in a row (--fix-attempts {limit}): they no longer run "
                         "after edits in this task. Run run_tests to check a fix, or call final_answer and say why "
                         "the failures cannot be fixed.]")
        else:
            parts.append("Fix this next, or call final_answer and say why it cannot be fixed.")
        return "\n".join(parts)


def _ran(run: CheckRun) -> str:
    said = []
    if run.tests is not None:
        counts = run.tests.tests
        if counts is not None and counts.passed is not None:
            said.append(f"tests {counts.passed} passed, {counts.failed} failed")
        else:
            said.append(f"tests: no results (exit code {run.tests.exit_code})")
    if run.lint is not None:
        lint = run.lint
        said.append(f"{lint.linter} could not run (is it installed?)" if lint.missing
                    else f"{lint.linter} {len(lint.findings)} finding(s)")
    return ", ".join(said)


def start_evidence(run: CheckRun) -> str:
    """What the checks at the start of a bug-fix task showed, for the task's context."""
    counts = run.tests.tests if run.tests is not None else None
    if counts is None or run.tests is None:
        return ""
    if counts.passed is None:
        head = f"Before any change, `{run.tests.command}` reported no results (exit code {run.tests.exit_code})."
    elif counts.failed:
        shown = f": {', '.join(counts.failures[:10])}" if counts.failures else ""
        head = f"Before any change, `{run.tests.command}`: {counts.passed} passed, {counts.failed} failed{shown}."
    else:
        head = f"Before any change, `{run.tests.command}`: all {counts.passed} tests pass."
    return f"{head}\n{run.report}" if run.report else head


def edited_path(tool: Tool | None, arguments: dict) -> str:
    """The file a call of ``tool`` will write, when it writes one named by its subject ("" otherwise)."""
    if tool is None or "write" not in tool.effects or tool.subject != "path":
        return ""
    value = arguments.get("path")
    return value.removeprefix("./") if isinstance(value, str) else ""
