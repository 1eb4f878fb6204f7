"""Git as locoder itself runs it: immune to the repository's configuration.

A model-run command can write ``.git/config``, hooks and ``.gitattributes``; locoder's own git calls (the
session summary, the indexer, the task and benchmark code) run outside the sandbox, so every setting that makes
git run a program is overridden here: fsmonitor, hooks, pager, external diff and textconv, filter drivers (each
driver named in any configuration file gets empty commands), credential helpers, ssh, editors, automatic gc.
System and global configuration are not read, and the environment variables that point git elsewhere are
dropped. Every git invocation by locoder goes through ``run`` (or ``argv`` and ``env`` where a sandbox runs it).

The lowest layer: it imports nothing of locoder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

NEUTRAL = (
    "core.fsmonitor=false", f"core.hooksPath={os.devnull}", "core.pager=cat", "pager.diff=false",
    "pager.log=false", "pager.show=false", "diff.external=", "core.attributesFile=" + os.devnull,
    "core.sshCommand=", "core.askPass=", "credential.helper=", "core.editor=true", "sequence.editor=true",
    "core.alternateRefsCommand=", "gc.auto=0", "maintenance.auto=false", "commit.gpgSign=false",
    "tag.gpgSign=false", "protocol.allow=never", "submodule.recurse=false", "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false", "core.untrackedCache=false", "uploadpack.packObjectsHook=",
)
"""``-c`` settings that win over any configuration file (command-line settings are read last)."""

DRIVER_KEYS = {"filter": ("clean", "smudge", "process"), "diff": ("command", "textconv"),
               "merge": ("driver",)}
"""Per-driver keys (``filter.<name>.clean``...) that name a program; each is emptied for every driver."""

DIFFING = ("diff", "log", "show", "diff-index", "diff-files", "diff-tree")
"""Commands that take ``--no-ext-diff --no-textconv`` (an emptied ``diff.external`` alone makes them fail)."""

DROPPED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_EXTERNAL_DIFF", "GIT_SSH", "GIT_SSH_COMMAND",
               "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_CONFIG",
               "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR",
               "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES")


def env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git call: ``base`` (default: this process's) without variables that redirect or
    reconfigure git, with system and global configuration off and no prompt or pager."""
    source = os.environ if base is None else base
    out = {k: v for k, v in source.items() if k not in DROPPED_ENV and not k.startswith("GIT_CONFIG_")}
    out.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_ATTR_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_NO_REPLACE_OBJECTS": "1", "GIT_PROTOCOL_FROM_USER": "0"})
    out.update(extra or {})
    return out


def driver_overrides(repo: Path) -> list[str]:
    """``-c`` settings that empty every program-naming key of every filter, diff and merge driver the
    repository's configuration (includes followed) defines. Listing configuration runs no program."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), "config", "--list", "-z", "--name-only"],
                              capture_output=True, timeout=30, env=env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return []
    names: set[tuple[str, str]] = set()
    for key in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        section, _, rest = key.partition(".")
        driver, _, _leaf = rest.rpartition(".")
        if section.lower() in DRIVER_KEYS and driver:
            names.add((section.lower(), driver))
    out = []
    for section, driver in sorted(names):
        out += [f"{section}.{driver}.{leaf}=" for leaf in DRIVER_KEYS[section]]
        if section == "filter":
            out.append(f"{section}.{driver}.required=false")
    return out


def argv(repo: Path, args: Sequence[str]) -> list[str]:
    """The full command line of ``git -C repo ARGS`` with every program-running setting neutralised."""
    flags: list[str] = []
    for setting in (*NEUTRAL, *driver_overrides(repo)):
        flags += ["-c", setting]
    if args and args[0] in DIFFING:
        args = [args[0], "--no-ext-diff", "--no-textconv", *args[1:]]
    return ["git", "--no-pager", "-C", str(repo), *flags, *args]


def run(repo: Path, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 60,
        check: bool = False, text: bool = False) -> subprocess.CompletedProcess:
    """Run ``git ARGS`` in ``repo`` safely; output captured, stdin closed. Raises ``OSError`` when git is
    missing, ``subprocess.TimeoutExpired`` on timeout, ``CalledProcessError`` with ``check``."""
    return subprocess.run(argv(repo, args), capture_output=True, timeout=timeout, env=env(extra_env),
                          check=check, text=text, stdin=subprocess.DEVNULL)


def output(repo: Path, *args: str, timeout: float = 30) -> str | None:
    """Standard output of a successful ``git ARGS`` (text), or None when it failed or git is missing."""
    try:
        proc = run(repo, *args, timeout=timeout, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


WATCHED = ("config", "info/attributes", "hooks")


def fingerprint(repo: Path) -> dict[str, str]:
    """What each file git would run code from looks like now (``config``, ``info/attributes``, every hook),
    by path relative to the git folder; compared at the end of a session to warn of changes."""
    git_dir = output(repo, "rev-parse", "--absolute-git-dir")
    if not git_dir:
        return {}
    root = Path(git_dir.strip())
    out: dict[str, str] = {}
    for name in WATCHED:
        path = root / name
        paths = sorted(path.iterdir()) if path.is_dir() and not path.is_symlink() else [path]
        for item in paths:
            try:
                st = os.lstat(item)
                data = os.readlink(item).encode() if os.path.islink(item) else item.read_bytes()
            except OSError:
                continue
            out[str(item.relative_to(root))] = f"{st.st_mode:o}:{hashlib.sha256(data).hexdigest()}"
    return out


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Paths (relative to the git folder) added, removed or changed between two fingerprints."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
