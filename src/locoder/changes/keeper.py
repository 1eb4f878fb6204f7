"""Keeping a task's change: what the workspace looks like when the task starts, and when it ends, the files
the task changed committed (in git, those alone; the user's own dirty files left as they are) or kept in a
checkpoint (outside git), with a record either way."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from locoder.atomic import write_atomic
from locoder.changes import checkpoint, commits, records
from locoder.changes.gitrepo import Repo, fingerprint, is_noise, snapshot, status
from locoder.locations import TRACE_FILE, StatePaths


@dataclass
class Outcome:
    """What became of a task's change."""

    kept_as: str
    """``commit``, ``checkpoint``, ``uncommitted`` (git, not committed: turned off or declined) or ``none``
    (the task changed nothing)."""
    files: list[str] = field(default_factory=list)
    """The task's files, relative to the workspace."""
    left: list[str] = field(default_factory=list)
    """Files with the user's uncommitted edits from before the task that the task changed too: never
    committed."""
    commit: str = ""
    subject: str = ""
    unkept: list[str] = field(default_factory=list)
    """Outside git: changed files too big to keep a copy of (undo cannot restore them)."""


Decide = Callable[[str, list[str]], bool]
"""Asked before committing: the commit's subject and files; True commits."""


class Keeper:
    def __init__(self, workspace: Path, state: StatePaths) -> None:
        self.workspace, self.state = workspace, state
        self.repo: Repo | None = None
        self.before: dict[str, str] | None = None
        self.scan: dict[str, checkpoint.Entry] | None = None
        self.store = checkpoint.Store(state.checkpoint_objects)

    @property
    def started(self) -> bool:
        return self.before is not None or self.scan is not None

    def start(self) -> None:
        """Look at the workspace as the task begins."""
        self.repo = Repo.find(self.workspace, self.state.root)
        if self.repo is not None:
            self.before = snapshot(self.repo)
            return
        previous = {}
        if self.state.checkpoint_scan.exists():
            try:
                previous = checkpoint.entries_from_json(json.loads(self.state.checkpoint_scan.read_text("utf-8")))
            except (OSError, ValueError):
                previous = {}
        self.scan = checkpoint.scan(self.workspace, self._skipped(), self.store, previous)

    def _skipped(self) -> tuple[str, ...]:
        return self.state.skipped(self.workspace)

    def _workspace_name(self, name: str) -> str:
        prefix = self.repo.prefix if self.repo else ""
        return name[len(prefix) + 1:] if prefix and name.startswith(prefix + "/") else name

    def finish(self, task: str, status_: str, answer: str, written: set[str], decide: Decide,
               task_id: str) -> Outcome:
        """Keep what the task changed: ``written`` are the paths tools wrote (relative to the workspace)."""
        try:
            if self.repo is not None and self.before is not None:
                return self._finish_git(self.repo, self.before, task, status_, answer, written, decide, task_id)
            return self._finish_checkpoint(task, status_)
        finally:
            self.before = self.scan = None

    def _task_files(self, repo: Repo, before: dict[str, str], written: set[str]) -> tuple[list[str], list[str]]:
        now = status(repo)
        trace = f"{repo.prefix}/{TRACE_FILE}" if repo.prefix else TRACE_FILE
        written_top = {f"{repo.prefix}/{w}" if repo.prefix else w for w in written}
        changed, left = [], []
        for name in sorted(set(before) | set(now)):
            if name == trace or name.endswith("/"):
                continue  # the fix workflow's trace file; a nested repository (never committed as a link)
            if name in before:
                noise = is_noise(name) and before[name].startswith("stat:")
                if fingerprint(repo.path(name), noise=noise) != before[name]:
                    left.append(name)
            elif not (is_noise(name) and now[name] == "??" and name not in written_top):
                changed.append(name)
        return changed, left

    def _finish_git(self, repo: Repo, before: dict[str, str], task: str, status_: str, answer: str,
                    written: set[str], decide: Decide, task_id: str) -> Outcome:
        changed, left = self._task_files(repo, before, written)
        shown = [self._workspace_name(n) for n in changed]
        outcome = Outcome("uncommitted", shown, [self._workspace_name(n) for n in left])
        if not changed:
            outcome.kept_as = "none"
            return outcome
        subject = commits.message(task, status_, answer, "", task_id).splitlines()[0]
        decide_ok = decide(subject, shown)
        made = commits.commit(repo, changed, task, status_, answer, task_id, self.state.tmp) if decide_ok else None
        if made is not None:
            outcome.kept_as, outcome.commit, outcome.subject = "commit", made.sha, made.subject
        elif decide_ok:
            outcome.kept_as = "none"  # the files are as HEAD has them again
            return outcome
        self._record(task, status_, outcome, paths=changed)
        return outcome

    def _finish_checkpoint(self, task: str, status_: str) -> Outcome:
        before = self.scan or {}
        after = checkpoint.scan(self.workspace, self._skipped(), self.store, before)
        write_atomic(self.state.checkpoint_scan, json.dumps(checkpoint.entries_to_json(after)))
        changes = {rel: c for rel, c in checkpoint.difference(before, after).items() if rel != TRACE_FILE}
        outcome = Outcome("checkpoint" if changes else "none", sorted(changes),
                          unkept=sorted(rel for rel, c in changes.items() if c["before"] == "?"))
        if changes:
            kept = self._record(task, status_, outcome, changes=changes)
            wanted = {e.object for e in after.values() if e.object}
            for record in kept:
                for change in (record.get("changes") or {}).values():
                    wanted |= {change["before"], change["after"]}
            self.store.keep_only(wanted)
        return outcome

    def _record(self, task: str, status_: str, outcome: Outcome, paths: list[str] | None = None,
                changes: dict | None = None) -> list[dict]:
        record = {"kind": outcome.kept_as, "task": task[:2000], "status": status_, "time": time.time(),
                  "files": outcome.files, "left": outcome.left, "undone": False}
        if outcome.commit:
            record["commit"] = outcome.commit
        if paths is not None:
            record["paths"] = paths
        if changes is not None:
            record["changes"] = changes
        return records.append(self.state.change_log, record)
