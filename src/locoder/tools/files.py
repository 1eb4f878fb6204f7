"""File tools: list, read, write, edit. Every path is confined to the workspace."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from locoder.exceptions import ToolError
from locoder.index.files import NOISE_DIRS, under
from locoder.messages import FileChange
from locoder.tools.base import ToolContext, ToolOutput, tool
from locoder.tools.edit import apply_edit, refuse_broken, unified_diff
from locoder.tools.paths import (
    check_readable,
    check_writable,
    display,
    read_beneath,
    resolve_in_workspace,
    write_beneath,
)

# Folders no listing or search needs to show the model.
SKIP_DIRS = NOISE_DIRS
MAX_READ_BYTES = 2_000_000
WHOLE_FILE_LINES = 200  # files this short are always shown whole; longer ones 200 lines at a time
MAX_LINE_CHARS = 400


def _load(ctx: ToolContext, path: Path, shown: str) -> tuple[str, str]:
    """The text of a file and the encoding that gives its bytes back exactly: UTF-8 when it is UTF-8, else
    Latin-1 (every byte is one character, so untouched bytes are written back unchanged). Binary files (a NUL
    byte anywhere, not only in the first 8 KiB) are refused; special files are refused by ``read_beneath``."""
    data = read_beneath(ctx.workspace, path, shown, MAX_READ_BYTES)
    if b"\x00" in data:
        raise ToolError(f"{shown} looks like a binary file (it has NUL bytes); it is not shown or changed")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _encode(text: str, encoding: str, shown: str) -> bytes:
    """``text`` in the file's own encoding; a clear refusal when that encoding cannot hold it."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        if all("\ud800" <= c <= "\udfff" for c in bad):
            raise ToolError(f"not saved: the new content of {shown} holds {bad!r}, which is not a character (a lone "
                            "surrogate); write it without that") from None
        raise ToolError(f"not saved: {shown} is not UTF-8, so it is kept in Latin-1, which cannot hold {bad!r} (at "
                        f"character {exc.start} of the new text); the file is unchanged. Leave those characters "
                        "out or write them as escapes") from None


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _current(workspace: Path, path: str) -> str:
    """The file's text as the approval preview shows it ("" for a new file)."""
    target = resolve_in_workspace(workspace, path)
    return target.read_text(encoding="utf-8", errors="replace") if target.is_file() else ""


def _preview_write(workspace: Path, args: dict[str, Any]) -> str:
    path = str(args.get("path", ""))
    return unified_diff(_current(workspace, path), str(args.get("content", "")), path, max_lines=80) or "(no change)"


def _preview_edit(workspace: Path, args: dict[str, Any]) -> str:
    path = str(args.get("path", ""))
    before = _current(workspace, path)
    after = apply_edit(before, str(args.get("search", "")), str(args.get("replace", "")))
    return unified_diff(before, after, path, max_lines=80) or "(no change)"


@tool(effects="read", subject="path")
def list_files(ctx: ToolContext, path: str = ".", max_depth: int = 3) -> str:
    """List files and folders under a folder of the workspace.

    Args:
        path: Folder relative to the workspace.
        max_depth: How many folder levels to descend.
    """
    root = check_readable(ctx.workspace, path)
    if not root.is_dir():
        raise ToolError(f"{path} is not a folder")
    entries: list[str] = []
    workspace = Path(os.path.realpath(ctx.workspace))
    state = ctx.state_paths.skipped(workspace)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and not under(os.path.relpath(os.path.join(dirpath, d), workspace), state)) \
            if depth < max_depth else []
        rel = Path(dirpath).relative_to(root)
        entries += [f"{rel / d}/" if str(rel) != "." else f"{d}/" for d in dirnames]
        entries += [str(rel / f) if str(rel) != "." else f for f in sorted(filenames)]
        if len(entries) > 500:
            break
    if not entries:
        return f"{display(ctx.workspace, root)} is empty"
    shown = sorted(entries)[:500]
    more = f"\n... [{len(entries) - 500} more]" if len(entries) > 500 else ""
    return "\n".join(shown) + more


@tool(whole=True, effects="read", subject="path")
def read_file(ctx: ToolContext, path: str, start_line: int = 1, end_line: int | None = None) -> str:
    """Read a text file, with line numbers. Files up to 200 lines are shown whole; for longer ones, at most
    200 lines from start_line.

    Args:
        path: File path relative to the workspace.
        start_line: First line to show (1-based).
        end_line: Last line to show (inclusive); omit to read on from start_line.
    """
    target = check_readable(ctx.workspace, path)
    text, encoding = _load(ctx, target, path)
    lines = text.splitlines()
    if not lines:
        return f"{path} is empty"
    if encoding != "utf-8":
        path = f"{path} (not UTF-8: shown as Latin-1; edits keep its bytes)"
    if len(lines) <= WHOLE_FILE_LINES:
        # Small models ask for ranges that miss what they need; a short file is cheaper shown whole.
        start_line, end_line = 1, None
    first = max(start_line, 1)
    if first > len(lines):
        raise ToolError(f"{path} has only {len(lines)} lines")
    last = min(end_line or len(lines), len(lines), first + WHOLE_FILE_LINES - 1)
    body = "\n".join(f"{n:>5}  {_clip(lines[n - 1])}" for n in range(first, last + 1))
    if first == 1 and last == len(lines):
        return f"{path} (all {len(lines)} lines):\n{body}"
    rest = []
    if first > 1:
        rest.append(f"lines 1-{first - 1}")
    if last < len(lines):
        rest.append(f"lines {last + 1}-{len(lines)}")
    return f"{path} (lines {first}-{last} of {len(lines)}; not shown: {' and '.join(rest)}):\n{body}"


def _clip(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """A very long line (minified code, data) cut so one line cannot fill the context."""
    return line if len(line) <= limit else f"{line[:limit]} ... [{len(line) - limit} more characters]"


@tool(effects="write", subject="path", preview=_preview_write, syntax="diff")
def write_file(ctx: ToolContext, path: str, content: str) -> ToolOutput:
    """Create a file, or replace its whole content.

    Args:
        path: File path relative to the workspace.
        content: The complete new content of the file.
    """
    target = check_writable(ctx.workspace, path, ctx.protected)
    if target.is_dir():
        raise ToolError(f"{path} is a folder")
    before, encoding = _load(ctx, target, path) if os.path.lexists(target) else (None, "utf-8")
    data = _encode(content, encoding, path)
    refuse_broken(path, before, content)
    write_beneath(ctx.workspace, target, path, data)
    diff = unified_diff(before or "", content, path)
    change = FileChange(path, None if before is None else _hash(before.encode(encoding)), _hash(data), diff)
    if before is None:
        return ToolOutput(f"created {path} ({len(content.splitlines())} lines)", change)
    if before == content:
        return ToolOutput(f"{path} already had this content; nothing changed", change)
    return ToolOutput(f"overwrote {path}:\n{diff}", change)


@tool(effects="write", subject="path", preview=_preview_edit, syntax="diff")
def edit_file(ctx: ToolContext, path: str, search: str, replace: str) -> ToolOutput:
    """Replace one exact block of lines in a file with new lines. Copy the search block exactly from
    the file (read it first); it must occur once.

    Args:
        path: File path relative to the workspace.
        search: The exact existing lines to replace.
        replace: The new lines.
    """
    target = check_writable(ctx.workspace, path, ctx.protected)
    before, encoding = _load(ctx, target, path)
    after = apply_edit(before, search, replace)
    if after == before:
        same = _hash(before.encode(encoding))
        return ToolOutput(f"{path}: the replacement is identical; nothing changed", FileChange(path, same, same))
    data = _encode(after, encoding, path)
    refuse_broken(path, before, after)
    write_beneath(ctx.workspace, target, path, data)
    diff = unified_diff(before, after, path)
    return ToolOutput(f"edited {path}:\n{diff}", FileChange(path, _hash(before.encode(encoding)), _hash(data), diff))
