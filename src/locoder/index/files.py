"""Which files of a workspace are indexed: what git tracks (or, outside git, everything not ignored by
.gitignore), less locoder's state folder, binaries, vendored folders, lock files, minified and huge files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from locoder import gitsafe
from locoder.locations import StatePaths
from locoder.regular_files import read_text
from locoder.safety.secret_files import is_secret_file

MAX_BYTES = 1_000_000
NOISE_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
                        ".pytest_cache", ".ruff_cache", ".tox", "dist", "build"})
"""Never worth listing or grepping. Nor is locoder's state folder, whose name is a setting: walkers are given
it (``StatePaths.skipped``, relative to the workspace) and pass it by with ``under``."""
SKIP_DIRS = NOISE_DIRS | frozenset({
    ".hg", ".svn", "vendor", "third_party", "env", ".env", "site-packages", ".nox", "target", ".idea", ".vscode",
    ".next", ".cache", "bower_components", ".eggs", ".gradle",
})
"""Not indexed either: vendored code, build output, editor state."""
SKIP_NAMES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
                        "uv.lock", "Pipfile.lock", "go.sum", "composer.lock", "Gemfile.lock"})
BINARY_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".bmp", ".webp", ".pdf", ".zip", ".gz", ".tgz", ".bz2", ".xz",
    ".7z", ".tar", ".whl", ".so", ".dll", ".dylib", ".a", ".o", ".pyc", ".class", ".jar", ".exe", ".bin",
    ".gguf", ".safetensors", ".pt", ".pth", ".onnx", ".npy", ".npz", ".pkl", ".db", ".sqlite", ".woff",
    ".woff2", ".ttf", ".otf", ".mp3", ".mp4", ".wav", ".mov", ".parquet", ".arrow",
})


def _git_files(root: Path) -> list[str] | None:
    try:
        proc = gitsafe.run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def under(rel: str, folders: Iterable[str]) -> bool:
    """Whether the relative path ``rel`` is one of ``folders`` (relative too, with ``/``) or lies below one."""
    return any(rel == folder or rel.startswith(folder + "/") for folder in folders)


def skipped_state(root: Path, state: StatePaths | None = None) -> tuple[str, ...]:
    """The state folder relative to ``root`` when it lies inside (the default one when ``state`` is None)."""
    return (state or StatePaths.for_workspace(root)).skipped(root)


def _walk_files(root: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under ``root`` but those in ``skip``, honouring .gitignore files where pathspec is installed."""
    try:
        import pathspec
    except ImportError:  # pragma: no cover - pathspec is a dependency
        pathspec = None
    out: list[str] = []
    specs: list[tuple[str, object]] = []
    for folder, dirs, names in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        rel_folder = "" if rel_folder == "." else rel_folder + "/"
        if pathspec is not None and ".gitignore" in names:
            try:
                lines = read_text(Path(folder) / ".gitignore", max_bytes=1_000_000).splitlines()
                specs.append((rel_folder, pathspec.PathSpec.from_lines("gitwildmatch", lines)))
            except OSError:
                pass

        def ignored(rel: str, is_dir: bool) -> bool:
            for base, spec in specs:
                if rel.startswith(base) and spec.match_file(rel[len(base):] + ("/" if is_dir else "")):
                    return True
            return False

        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not under(rel_folder + d, skip)
                         and not ignored(rel_folder + d, True))
        out += [rel_folder + n for n in sorted(names) if not ignored(rel_folder + n, False)]
    return out


def is_indexable(path: Path, rel: str) -> bool:
    parts = rel.split("/")
    if any(part in SKIP_DIRS for part in parts[:-1]) or parts[-1] in SKIP_NAMES or is_secret_file(rel):
        return False
    if path.suffix.lower() in BINARY_SUFFIXES or rel.endswith((".min.js", ".min.css", ".map")):
        return False
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return False
    except OSError:
        return False
    return True


def looks_binary(data: bytes) -> bool:
    """A NUL byte anywhere: text files have none, and many binaries only have them past the first 8 KiB."""
    return b"\0" in data


def workspace_files(root: Path, state: StatePaths | None = None) -> Iterator[str]:
    """Paths (relative, with ``/``) of the files worth indexing, sorted; never those of the state folder
    (``state``; None: the default one)."""
    skip = skipped_state(root, state)
    listed = _git_files(root)
    if listed is None:
        listed = _walk_files(root, skip)
    for rel in sorted(set(listed)):
        if not under(rel, skip) and is_indexable(root / rel, rel):
            yield rel
