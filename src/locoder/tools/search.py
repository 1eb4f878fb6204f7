"""grep: ripgrep when it is installed, a Python fallback otherwise; same output either way."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.files import SKIP_DIRS
from locoder.tools.paths import display, resolve_in_workspace


def _ripgrep(rg: str, pattern: str, root: Path, glob: str, limit: int, cwd: Path) -> list[str] | None:
    cmd = [rg, "--line-number", "--no-heading", "--color", "never", "--max-columns", "300", "-e", pattern]
    for skipped in sorted(SKIP_DIRS):
        cmd += ["-g", f"!{skipped}/"]
    if glob:
        cmd += ["-g", glob]
    cmd += ["--", str(root.relative_to(cwd)) if root != cwd else "."]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 2 and "regex parse error" in proc.stderr:
        raise ToolError(f"invalid pattern: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode not in (0, 1):
        return None
    lines = [line.removeprefix("./") for line in proc.stdout.splitlines()]
    return sorted(lines)[: limit + 1]


def _python_grep(pattern: str, root: Path, glob: str, limit: int, cwd: Path) -> list[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid pattern: {exc}") from None
    hits: list[str] = []
    files = [root] if root.is_file() else _walk(root)
    for path in files:
        if glob and not fnmatch.fnmatch(path.name, glob):
            continue
        try:
            with path.open("rb") as handle:
                data = handle.read(2_000_000)
        except OSError:
            continue
        if b"\x00" in data[:8192]:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if regex.search(line):
                hits.append(f"{display(cwd, path)}:{number}:{line[:300]}")
                if len(hits) > limit:
                    return hits
    return hits


def _walk(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out += [Path(dirpath) / f for f in sorted(filenames)]
    return out


@tool
def grep(ctx: ToolContext, pattern: str, path: str = ".", glob: str = "", max_results: int = 50) -> str:
    """Search file contents with a regular expression; prints file:line:text for each match.

    Args:
        pattern: Regular expression to search for.
        path: File or folder to search, relative to the workspace.
        glob: Only search files whose name matches this glob, e.g. "*.py".
        max_results: Most matching lines to show.
    """
    root = resolve_in_workspace(ctx.workspace, path)
    if not root.exists():
        raise ToolError(f"{path} does not exist")
    cwd = resolve_in_workspace(ctx.workspace, ".")
    rg = shutil.which("rg")
    hits = _ripgrep(rg, pattern, root, glob, max_results, cwd) if rg else None
    if hits is None:
        hits = _python_grep(pattern, root, glob, max_results, cwd)
    if not hits:
        return f"no matches for {pattern!r}"
    more = "\n... [more matches; narrow the pattern or path]" if len(hits) > max_results else ""
    return "\n".join(hits[:max_results]) + more
