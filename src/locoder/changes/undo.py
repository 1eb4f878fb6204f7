"""``locoder undo`` and ``locoder diff``: the newest task change locoder recorded, reverted or shown. In git
the change is locoder's commit (reverted only while it is the last commit and its files have no later
edits); outside git, the checkpoint of the files before the task."""

from __future__ import annotations

from pathlib import Path

from locoder.changes import checkpoint, commits, records
from locoder.changes.errors import ChangeError
from locoder.changes.gitrepo import Repo, printable, status
from locoder.locations import StatePaths


def _listed(files: list[str], limit: int = 8) -> str:
    return ", ".join(printable(f) for f in files[:limit]) + (f" and {len(files) - limit} more" if len(files) > limit else "")


def undo_last(workspace: Path, state: StatePaths) -> str:
    """Revert the newest change; what was done, as a sentence. ``ChangeError`` says why nothing was."""
    log = records.load(state.change_log)
    repo = Repo.find(workspace, state.root)
    if repo is None:
        return _undo_checkpoint(workspace, state, log)
    pending = next((r for r in reversed(log) if not r.get("undone")), None)
    if pending is not None and pending.get("kind") == "uncommitted":
        dirty = sorted(status(repo, list(pending.get("paths") or [])))
        if dirty:
            raise ChangeError(f"the last task's changes were not committed ({_listed(dirty)}); nothing undone "
                              "(git diff shows them, git checkout -- FILE drops them)")
    made = commits.undo(repo, state.tmp)
    for record in log:
        if record.get("commit") == made.sha:
            record["undone"] = True
    if log:
        records.save(state.change_log, log)
    return (f"undid locoder's commit {made.sha[:10]} \"{made.subject}\": {_listed(made.files)} as before it "
            f"(git cherry-pick {made.sha[:10]} brings it back)")


def _undo_checkpoint(workspace: Path, state: StatePaths, log: list[dict]) -> str:
    record = next((r for r in reversed(log) if r.get("kind") == "checkpoint" and not r.get("undone")), None)
    if record is None:
        done = any(r.get("kind") == "checkpoint" for r in log)
        raise ChangeError("nothing left to undo: every checkpoint kept here was undone already" if done else
                          "nothing to undo: locoder kept no checkpoint of a task here (this is not a git "
                          "repository)")
    changes = record.get("changes") or {}
    checkpoint.restore(workspace, changes, checkpoint.Store(state.checkpoint_objects))
    record["undone"] = True
    records.save(state.change_log, log)
    return f"restored {_listed(sorted(changes))} as before the task \"{record.get('task', '')[:80]}\""


def last_diff(workspace: Path, state: StatePaths) -> str:
    """What the newest recorded task changed: its commit, its uncommitted files' diff, or its checkpoint's."""
    record = records.newest(records.load(state.change_log))
    if record is None:
        return "locoder has not changed anything here yet\n"
    kind = record.get("kind")
    how = {"commit": f"committed as {str(record.get('commit', ''))[:10]}", "checkpoint": "kept in a checkpoint",
           "uncommitted": "not committed"}.get(kind, str(kind))
    head = f"# the last task: \"{record.get('task', '')[:200]}\" ({record.get('status')}), {how}"
    head += " (undone since)\n" if record.get("undone") else "\n"
    if record.get("left"):
        head += f"# left uncommitted (they had your edits before the task): {_listed(record['left'])}\n"
    if kind == "checkpoint":
        return head + checkpoint.diff(record.get("changes") or {}, checkpoint.Store(state.checkpoint_objects))
    repo = Repo.find(workspace, state.root)
    if repo is None:
        raise ChangeError("the last change was recorded in git, but the workspace is no git repository now")
    if kind == "commit":
        return head + commits.show(repo, str(record.get("commit")))
    return head + commits.working_diff(repo, list(record.get("paths") or []))
