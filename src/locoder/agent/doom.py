"""The doom-loop guard: a task that keeps failing the same way ends with a clear reason, where the loop's
repeat checks (the same call in a row, calls going round with nothing changed) do not see it because edits
come in between.

Two patterns, over the whole task and read from the typed results (``CommandRun``, ``FileChange``), never the
text: the same command failing the same way (the same exit code and, for tests, the same failing tests)
``limit`` times; a file set back to content it had before in this task (an edit undone, or redone after being
undone) ``limit - 1`` times. One time fewer, the model is told.
"""

from __future__ import annotations

from collections.abc import Hashable

from locoder.exceptions import TaskFailed
from locoder.messages import CommandRun, FileChange, ToolResult

STOP = "doom_loop"


def _failure(run: CommandRun) -> Hashable | None:
    """What makes two failures of a command the same; None: it did not fail."""
    if run.exit_code == 0:
        return None
    tests = run.tests
    counts = (tests.failed, tests.failures) if tests is not None else None
    return (" ".join(run.command.split()), run.exit_code, counts)


class DoomGuard:
    """Consulted after each call of a task; ``check`` returns a note for the model, or raises ``TaskFailed``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures: dict[Hashable, int] = {}
        self.states: dict[str, list[str]] = {}
        """Each file's contents (hashes) in this task, in order, the first being what it was before."""
        self.returns: dict[str, int] = {}

    def check(self, result: ToolResult) -> str:
        data = result.data
        if isinstance(data, CommandRun):
            return self._command(data)
        if isinstance(data, FileChange) and data.changed:
            return self._edit(data)
        return ""

    def _command(self, run: CommandRun) -> str:
        key = _failure(run)
        if key is None:
            return ""
        seen = self.failures[key] = self.failures.get(key, 0) + 1
        if seen >= self.limit:
            raise TaskFailed(reason=f"the same command failed the same way {seen} times in this task "
                                    f"(`{run.command}`, exit {run.exit_code}); what was tried does not fix it",
                             stop=STOP)
        if seen == self.limit - 1:
            return (f"\n[This command has now failed the same way {seen} times in this task. Changing the code "
                    "the same way again will not help: find the cause first (read the error, the code it names), "
                    "or call final_answer saying what blocks you.]")
        return ""

    def _edit(self, change: FileChange) -> str:
        states = self.states.setdefault(change.path, [change.before_hash or ""])
        returned = change.after_hash in states
        states.append(change.after_hash)
        if not returned:
            return ""
        back = self.returns[change.path] = self.returns.get(change.path, 0) + 1
        if back >= self.limit - 1:
            raise TaskFailed(reason=f"{change.path} was set back to earlier content {back} times in this task "
                                    "(the same edit undone and redone); the model is going back and forth",
                             stop=STOP)
        if back == self.limit - 2:
            return (f"\n[{change.path} now has content it had before: this edit was undone and redone. Decide "
                    "which version is right (run the tests) and build on it instead of going back and forth.]")
        return ""
