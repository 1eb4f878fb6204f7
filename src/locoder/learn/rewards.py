"""How a step is scored: the one place that defines the bandit's rewards.

Each tool call of a task becomes one reward when the task ends (so that later evidence, such as tests that
pass after an edit, can reach the steps that earned it). The reward is the sum of these parts, cut to
[-1, 1]:

==================  ======  ==================================================================================
part                value   when
==================  ======  ==================================================================================
``ok``              +0.4    the tool ran without an error
``error``           -0.4    the tool failed, was refused, or does not exist
``used``            +0.3    a name, path or identifier from its output (not already in the task) appears in the
                            next step's call or thought, or in the final answer
``tests_fixed``     +0.5    the step comes after a test run with failures, up to and including the next run
                            with none: the edits and the run that fixed the tests
``approved``        +0.2    the user approved the call when asked (ask mode)
``rejected``        -0.5    the user declined the call when asked
``task_done``       +0.3    the task ended with a final answer
``task_failed``     -0.2    the task stopped without one (step limit, repeated calls, unusable replies);
                            a task the user cancels, or one a dead backend ends, adds nothing
==================  ======  ==================================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REWARD = {
    "ok": 0.4, "error": -0.4, "used": 0.3, "tests_fixed": 0.5, "approved": 0.2, "rejected": -0.5,
    "task_done": 0.3, "task_failed": -0.2,
}
TERM = re.compile(r"[A-Za-z_][\w./-]{3,}")
COMMON = frozenset({
    "this", "that", "with", "from", "have", "what", "when", "where", "which", "there", "file", "files", "line",
    "lines", "none", "true", "false", "error", "errors", "result", "results", "found", "test", "tests", "code",
    "path", "name", "score", "more", "self", "return", "import", "def", "class", "pass", "passed", "failed",
    "output", "exit", "command", "then", "into", "only", "also", "than", "each", "will", "should",
})


@dataclass
class StepOutcome:
    """What one tool call of a task did, as the rewards need it."""

    tool: str
    ok: bool
    output: str = ""
    said: str = ""
    """The call's arguments and the thought around it (what it used of earlier steps)."""
    approval: str = ""
    tests: tuple[int, int] | None = None
    """(passed, failed) when the call ran tests."""


def terms(text: str) -> set[str]:
    """Names, paths and identifiers in a text (lower-cased, common words left out)."""
    return {t.lower().rstrip("./-") for t in TERM.findall(text)} - COMMON


def step_rewards(steps: list[StepOutcome], task: str, status: str, answer: str = "") -> list[tuple[float, dict]]:
    """One (reward, parts) per step, from the whole task: ``status`` is the run's (submitted, failed,
    cancelled, error) and ``answer`` its final answer."""
    known = terms(task)
    fixed: set[int] = set()
    failing_since = None
    for i, step in enumerate(steps):
        if step.tests is None:
            continue
        passed, failed = step.tests
        if failed:
            failing_since = i if failing_since is None else failing_since
        elif passed and failing_since is not None:
            fixed.update(range(failing_since + 1, i + 1))
            failing_since = None
    out = []
    for i, step in enumerate(steps):
        parts = {"ok": REWARD["ok"]} if step.ok else {"error": REWARD["error"]}
        following = steps[i + 1].said if i + 1 < len(steps) else answer
        if step.ok and (terms(step.output) - known) & terms(following):
            parts["used"] = REWARD["used"]
        if i in fixed:
            parts["tests_fixed"] = REWARD["tests_fixed"]
        if step.approval == "yes":
            parts["approved"] = REWARD["approved"]
        elif step.approval == "no":
            parts["rejected"] = REWARD["rejected"]
        if status == "submitted":
            parts["task_done"] = REWARD["task_done"]
        elif status == "failed":
            parts["task_failed"] = REWARD["task_failed"]
        out.append((max(-1.0, min(1.0, round(sum(parts.values()), 4))), parts))
    return out
