"""Where locoder keeps its own files, in one place: per workspace, the state folder (``StatePaths``, which names
every file in it once); per user, the cache folder (``cache_dir``).

The state folder's name is a setting (``state_dir``), so nothing else may spell it: the sandbox's read-only list,
the file tools' protected list and the walkers' skip list all come from the ``StatePaths`` built once from the
settings and passed down.

The lowest layer: any part of locoder may import it, and it imports nothing of locoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".locoder"
"""The state folder's name (relative to the workspace) when ``state_dir`` is not set."""
PROJECT_CONFIG = ".locoder.toml"
"""The project's configuration file, at the workspace's top."""
GIT_DIR = ".git"
TRACE_FILE = ".locoder-trace.json"
"""Where the bug-fix harness's traced test runs write what they saw, relative to the workspace (commands cannot
write the state folder)."""


def cache_dir() -> Path:
    """The user's cache folder for locoder: ``$XDG_CACHE_HOME/locoder``, else ``~/.cache/locoder``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "locoder"


@dataclass(frozen=True)
class StatePaths:
    """Every file locoder keeps for a workspace. Build it with ``for_workspace`` (the settings do:
    ``Settings.state_paths``) or ``at``, and pass it down; modules ask it for their files."""

    root: Path
    """The state folder."""
    audit_log: Path
    """The audit log (``audit_log`` setting; default ``<root>/logs/agent_audit.jsonl``)."""
    memory: Path
    """The vector memory's folder (``memory_vector_dir`` setting; default ``<root>/memory``)."""
    workspace: Path | None = None
    """The workspace the state belongs to; None where it is not known (then nothing is inside it)."""

    @classmethod
    def at(cls, root: Path | str, workspace: Path | None = None, *, audit_log: Path | None = None,
           memory: Path | None = None) -> StatePaths:
        """The state kept in the folder ``root``; ``audit_log`` and ``memory`` move those two elsewhere."""
        root = Path(root)
        return cls(root, audit_log or root / "logs" / "agent_audit.jsonl", memory or root / "memory", workspace)

    @classmethod
    def for_workspace(cls, workspace: Path | str, state_dir: str = STATE_DIR, *, audit_log: Path | None = None,
                      memory: Path | None = None) -> StatePaths:
        """The state of ``workspace``, in its folder ``state_dir`` (relative to it, or absolute)."""
        workspace = Path(workspace)
        return cls.at(workspace / state_dir, workspace, audit_log=audit_log, memory=memory)

    # -- the files ---------------------------------------------------------------------------------------
    @property
    def index(self) -> Path:
        """The code index's folder."""
        return self.root / "index"

    @property
    def notes(self) -> Path:
        """The human-readable notes file."""
        return self.root / "memory_bank" / "global.md"

    @property
    def rl_state(self) -> Path:
        """The tool bandit's policy."""
        return self.root / "rl_state.json"

    @property
    def rl_events(self) -> Path:
        """The tool bandit's reward events, one JSON line each."""
        return self.root / "rl_events.jsonl"

    @property
    def rl_curve(self) -> Path:
        """Where ``locoder rl plot`` draws by default."""
        return self.root / "rl_curve.png"

    @property
    def history(self) -> Path:
        """The interactive session's input history."""
        return self.root / "history"

    @property
    def plans(self) -> Path:
        """Saved plans, one file each."""
        return self.root / "plans"

    @property
    def latest_plan(self) -> Path:
        return self.plans / "latest.json"

    @property
    def sessions(self) -> Path:
        """Session summaries, one file each."""
        return self.root / "sessions"

    @property
    def saved_sessions(self) -> Path:
        """Saved sessions (the conversation and the tasks, for ``locoder resume``), one ``<id>.json`` each."""
        return self.root / "saved_sessions"

    @property
    def harness(self) -> Path:
        """The bug-fix harness's scripts (the trace plugin, examples, reproducing tests)."""
        return self.root / "harness"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def changes(self) -> Path:
        """What each task changed (``locoder diff``, ``locoder undo``): the record and, outside git, the
        checkpoint copies."""
        return self.root / "changes"

    @property
    def change_log(self) -> Path:
        """The record of each task's change, newest last (JSON)."""
        return self.changes / "log.json"

    @property
    def checkpoint_objects(self) -> Path:
        """Outside git: the files' bytes before and after each task, by their SHA-256."""
        return self.changes / "objects"

    @property
    def checkpoint_scan(self) -> Path:
        """Outside git: the last scan of the workspace (path, size, time, inode, object)."""
        return self.changes / "scan.json"

    def scratch(self, workspace: Path | None = None) -> Path:
        """Where a file that commands must read is put for a moment (``run_python``'s snippets): ``tmp`` in the
        state folder, or the workspace itself when the state lies outside it (commands see only the workspace)."""
        workspace = workspace or self.workspace
        if workspace is not None and self.inside(workspace) is None:
            return Path(workspace)
        return self.tmp

    # -- what the state folder means to others -------------------------------------------------------------
    def inside(self, workspace: Path | None = None) -> str | None:
        """The state folder relative to the workspace (given, or its own), with ``/``; None when it lies
        outside it or no workspace is known."""
        workspace = workspace or self.workspace
        if workspace is None:
            return None
        relative = os.path.relpath(os.path.realpath(self.root), os.path.realpath(workspace))
        return None if relative == ".." or relative.startswith("../") else Path(relative).as_posix()

    def readonly(self, git_writable: bool = False) -> tuple[str, ...]:
        """What commands may not change inside the workspace: the state folder (wherever it is), the project
        configuration, and ``.git`` unless ``git_writable``."""
        inner = self.inside()
        return tuple(dict.fromkeys([*([inner] if inner else []), PROJECT_CONFIG,
                                    *([] if git_writable else [GIT_DIR])]))

    def protected(self) -> tuple[str, ...]:
        """What file tools may never write (relative to the workspace): the state folder, the project
        configuration and ``.git``, always."""
        return self.readonly(git_writable=False)

    def skipped(self, workspace: Path | None = None) -> tuple[str, ...]:
        """What walkers of the workspace (the index, grep, listings, the session summary) pass by: the state
        folder, when it is inside the workspace."""
        inner = self.inside(workspace)
        return (inner,) if inner and inner != "." else ()


DEFAULT_READONLY = (STATE_DIR, PROJECT_CONFIG, GIT_DIR)
"""``StatePaths.readonly()`` of a workspace whose state folder has the default name."""
