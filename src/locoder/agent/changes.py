"""Every task's change can be seen and undone: an event sink that looks at the workspace when a task
starts and, when it ends, commits the files the task changed (``auto_commit``: on, off, or ask) or, outside
git, keeps a checkpoint of them (``locoder.changes``). The files a task changed are those that differ from
when it started, whoever wrote them (a tool, a command, the fix workflow); files the user had edited and
not committed before the task are never committed, and a warning names them when the task changed them too.

A task's change is committed whatever its status (the status is in the message), so ``locoder undo``
can always take it back.
"""

from __future__ import annotations

import os
from pathlib import Path

from locoder.changes.errors import ChangeError
from locoder.changes.gitrepo import printable
from locoder.changes.keeper import Keeper, Outcome
from locoder.events import ChangesKept, Event, Step, TaskFinished, TaskStarted, Warned
from locoder.locations import StatePaths
from locoder.messages import FileChange, ToolCall
from locoder.tools.guard import Approver


def listed(names: list[str], limit: int = 8) -> str:
    """File names for a message: readable whatever bytes they hold, the first ``limit`` of them."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(printable(n) for n in names[:limit]) + more


class ChangeKeeper:
    def __init__(self, workspace: Path, state: StatePaths, mode: str, emit, session: str,
                 approver: Approver | None = None) -> None:
        self.keeper = Keeper(workspace, state)
        self.workspace, self.mode, self.notify, self.session = workspace, mode, emit, session
        self.approver = approver
        self.task, self.number = "", 0
        self.written: set[str] = set()

    def emit(self, event: Event) -> None:
        if isinstance(event, TaskStarted):
            self._start(event.task)
        elif isinstance(event, Step):
            for result in event.results:
                if isinstance(result.data, FileChange) and result.ok:
                    self.written.add(self._relative(result.data.path))
        elif isinstance(event, TaskFinished) and self.keeper.started:
            self._finish(event.result.status, str(event.result.answer))

    def _relative(self, path: str) -> str:
        root = os.path.realpath(self.workspace)
        return Path(os.path.relpath(os.path.realpath(os.path.join(root, path)), root)).as_posix()

    def _start(self, task: str) -> None:
        if self.keeper.started:
            return  # a workflow handed the task on: it is still the same task
        self.task, self.written = task, set()
        self.number += 1
        try:
            self.keeper.start()
        except (ChangeError, OSError) as exc:
            self.notify(Warned(f"no record of this task's changes can be kept: {exc}"))

    def _finish(self, status: str, answer: str) -> None:
        try:
            outcome = self.keeper.finish(self.task, status, answer, self.written, self._decide,
                                         f"{self.session}/{self.number}")
        except (ChangeError, OSError) as exc:
            self.notify(Warned(f"the task's changes were not committed or checkpointed: {exc}"))
            return
        self._tell(outcome)

    def _decide(self, subject: str, files: list[str]) -> bool:
        if self.mode != "ask":
            return self.mode == "on"
        if self.approver is None:
            return False  # nobody to ask (locoder run --auto-commit ask): left uncommitted, and said so
        preview = f"{subject}\n\n" + "\n".join(f"  {f}" for f in files)
        answer = self.approver(ToolCall("commit", {"message": subject, "files": files}), preview)
        if answer == "always":
            self.mode = "on"
        return answer in ("yes", "always")

    def _tell(self, outcome: Outcome) -> None:
        if outcome.left:
            self.notify(Warned(f"{listed(outcome.left)} had uncommitted edits of yours before the task, "
                               "and the task changed them too: left uncommitted (review them with git diff)",
                               kind="left_uncommitted"))
        if outcome.unkept:
            self.notify(Warned(f"no copy was kept of {listed(outcome.unkept)} (too big): locoder undo "
                               "cannot restore them"))
        if outcome.kept_as != "none":
            self.notify(ChangesKept(outcome.kept_as, outcome.files, outcome.commit, outcome.subject, outcome.left))
