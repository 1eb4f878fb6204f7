"""A task's changes in a git repository: what was dirty when it began, the files it changed, a commit of
those files alone, and undoing that commit.

Every git call goes through ``locoder.gitsafe`` (nothing the repository's configuration names runs) with
literal pathspecs, so any byte a file name may hold is taken as it is. The commit is built in an index of its
own (the repository's HEAD plus the task's files), so what the user staged or edited elsewhere is never swept
in; the user's index is then brought up to date for those files only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from locoder import gitsafe
from locoder.changes.errors import ChangeError

TRAILER = "Locoder-Task"
"""The trailer that marks a commit as locoder's (its value: the session and the task's number)."""
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
ZERO = "0" * 40
NOISE = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".venv", "venv",
                   "node_modules", ".ipynb_checkpoints"})
"""Folders of untracked files that tools and test runs leave behind: never committed unless a tool wrote there."""
HASHED = 4_000_000
"""Files up to this size are compared by content; larger ones by size, time and inode."""
FALLBACK = ("locoder", "locoder@localhost")


@dataclass(frozen=True)
class Repo:
    """The repository a workspace lies in: its top folder, the workspace relative to it (``""`` at the top,
    else ``sub/dir``) and the state folder relative to it, where inside."""

    top: Path
    prefix: str
    state: str | None

    @classmethod
    def find(cls, workspace: Path, state_root: Path) -> Repo | None:
        """The repository of ``workspace``, or None outside git (or where git is missing)."""
        inside = gitsafe.output(workspace, "rev-parse", "--is-inside-work-tree")
        top = gitsafe.output(workspace, "rev-parse", "--show-toplevel")
        if not inside or inside.strip() != "true" or not top:
            return None
        root = Path(top.strip())
        prefix = _relative(workspace, root)
        if prefix is None:
            return None
        return cls(root, prefix, _relative(state_root, root))

    def path(self, name: str) -> Path:
        return self.top / name

    def owns(self, name: str) -> bool:
        """Whether a path (relative to the top) is the workspace's and not the state folder's."""
        inside = not self.prefix or name == self.prefix or name.startswith(self.prefix + "/")
        in_state = self.state is not None and (name == self.state or name.startswith(self.state.rstrip("/") + "/"))
        return inside and not in_state


def _relative(path: Path, root: Path) -> str | None:
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    if relative == ".." or relative.startswith("../"):
        return None
    return "" if relative == "." else Path(relative).as_posix()


def git(repo: Repo, *args: str, index: Path | None = None, env: dict[str, str] | None = None) -> bytes:
    """Standard output of ``git ARGS`` at the repository's top (literal pathspecs); ``ChangeError`` on failure."""
    extra = {"GIT_LITERAL_PATHSPECS": "1", **(env or {})}
    if index is not None:
        extra["GIT_INDEX_FILE"] = str(index)
    try:
        proc = gitsafe.run(repo.top, *args, extra_env=extra, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChangeError(f"git {args[0]} did not run: {exc}") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChangeError(f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc.stdout


def names(raw: bytes) -> list[str]:
    """NUL-separated paths as text (bytes that are not UTF-8 kept by surrogate escapes)."""
    return [os.fsdecode(item) for item in raw.split(b"\0") if item]


def pathspec_file(paths: list[str], folder: Path) -> Path:
    """A NUL-separated pathspec file (``--pathspec-from-file``), so no list is too long for a command line."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".paths.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
    return Path(name)


def status(repo: Repo, paths: list[str] | None = None) -> dict[str, str]:
    """``path -> XY`` of every path of the workspace that differs from HEAD (staged, edited, untracked);
    with ``paths``, of those alone."""
    args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--ignore-submodules=all"]
    if repo.prefix:
        args += ["--", repo.prefix]
    wanted = None if paths is None else set(paths)
    out = {}
    for entry in git(repo, *args).split(b"\0"):
        if len(entry) > 3:
            name = os.fsdecode(entry[3:])
            if repo.owns(name) and (wanted is None or name in wanted):
                out[name] = entry[:2].decode("ascii", "replace")
    return out


def fingerprint(path: Path, noise: bool = False) -> str:
    """What a file is now: ``-`` missing, a link's target, or its content's hash (size, time and inode for a
    big file, or for ``noise``, never read)."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return "link:" + os.readlink(path)
        if not stat.S_ISREG(st.st_mode):
            return f"other:{stat.S_IFMT(st.st_mode)}"
        if noise or st.st_size > HASHED:
            return f"stat:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_mode:o}"
        with open(path, "rb") as handle:
            return f"{st.st_mode & 0o111:o}:" + hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return "-"
    except OSError as exc:
        return f"error:{exc.errno}"


def printable(name: str) -> str:
    """A path as one readable line: bytes that are not UTF-8 as ``\\xNN``, control characters escaped."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_noise(name: str) -> bool:
    return any(part in NOISE for part in name.split("/")[:-1]) or name.endswith((".pyc", ".pyo"))


def snapshot(repo: Repo) -> dict[str, str]:
    """``path -> fingerprint`` of every path the workspace has dirty now (the user's own edits, kept out)."""
    return {name: fingerprint(repo.path(name), noise=is_noise(name) and code == "??")
            for name, code in status(repo).items()}
