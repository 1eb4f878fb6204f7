"""Path confinement: every path a tool touches must resolve inside the workspace, symlinks followed."""

from __future__ import annotations

import os
from pathlib import Path

from locoder.exceptions import ToolError


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve ``path`` (relative to the workspace, or absolute) and refuse anything outside it."""
    if not path or "\x00" in path:
        raise ToolError("a path is required")
    root = Path(os.path.realpath(workspace))
    candidate = Path(os.path.realpath(root / os.path.expanduser(path)))
    if candidate != root and root not in candidate.parents:
        raise ToolError(f"'{path}' is outside the workspace; only paths inside {root} are allowed")
    return candidate


def display(workspace: Path, path: Path) -> str:
    root = Path(os.path.realpath(workspace))
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)
