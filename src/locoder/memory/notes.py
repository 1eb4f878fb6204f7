"""The human-readable notes file, ``memory_bank/global.md`` in the state folder."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from locoder.regular_files import open_append, read_text

HEADER = "# locoder notes\n\nNotes remembered for this project, newest last.\n\n"


def notes_path(state_dir: Path) -> Path:
    return state_dir / "memory_bank" / "global.md"


def append_note(state_dir: Path, note: str, now: datetime | None = None) -> Path:
    """Append one timestamped note with a single write (concurrent writers cannot interleave a line)."""
    text = " ".join(note.split())
    if not text:
        raise ValueError("the note is empty")
    path = notes_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = (("" if path.exists() else HEADER) + f"- {stamp} {text}\n").encode("utf-8")
    fd = open_append(path, 0o644)  # a FIFO planted in its place is refused (NotRegularFile), not waited on
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def read_notes(state_dir: Path) -> list[tuple[str, str]]:
    """(timestamp, text) of every note in the file, in order; lines that are not notes are skipped."""
    path = notes_path(state_dir)
    if not path.is_file():
        return []
    out = []
    for line in read_text(path).splitlines():
        if line.startswith("- "):
            stamp, _, text = line[2:].strip().partition(" ")
            if len(stamp) == 20 and stamp.endswith("Z") and text:
                out.append((stamp, text.strip()))
            elif line[2:].strip():
                out.append(("", line[2:].strip()))
    return out


def rewrite_notes(state_dir: Path, notes: list[tuple[str, str]]) -> None:
    """Replace the file with these notes, atomically."""
    from locoder.atomic import write_atomic

    body = "".join(f"- {stamp} {text}\n" if stamp else f"- {text}\n" for stamp, text in notes)
    write_atomic(notes_path(state_dir), HEADER + body)


def recent_notes(state_dir: Path, max_chars: int = 1500) -> list[str]:
    """The newest notes that fit in ``max_chars``, oldest first."""
    path = notes_path(state_dir)
    if not path.is_file():
        return []
    # errors="replace": one bad byte (an editor, a copy from elsewhere) must not stop every later start.
    try:
        text = read_text(path)
    except OSError:
        return []
    notes = [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
    kept: list[str] = []
    used = 0
    for note in reversed(notes):
        if used + len(note) > max_chars:
            break
        kept.append(note)
        used += len(note)
    return kept[::-1]
