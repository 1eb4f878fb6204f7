"""The human-readable notes file, ``StatePaths.notes`` (``memory_bank/global.md`` in the state folder). Each
function takes the workspace's ``StatePaths``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from locoder.locations import StatePaths
from locoder.regular_files import append_line, read_text

HEADER = "# locoder notes\n\nNotes remembered for this project, newest last.\n\n"


def notes_path(state: StatePaths) -> Path:
    return state.notes


def append_note(state: StatePaths, note: str, now: datetime | None = None) -> Path:
    """Append one timestamped note with a single write (concurrent writers cannot interleave a line)."""
    text = " ".join(note.split())
    if not text:
        raise ValueError("the note is empty")
    path = notes_path(state)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = (("" if path.exists() else HEADER) + f"- {stamp} {text}\n").encode("utf-8")
    append_line(path, data, 0o644)  # a FIFO planted in its place is refused (NotRegularFile), not waited on
    return path


def read_notes(state: StatePaths) -> list[tuple[str, str]]:
    """(timestamp, text) of every note in the file, in order; lines that are not notes are skipped."""
    path = notes_path(state)
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


def rewrite_notes(state: StatePaths, notes: list[tuple[str, str]]) -> None:
    """Replace the file with these notes, atomically."""
    from locoder.atomic import write_atomic

    body = "".join(f"- {stamp} {text}\n" if stamp else f"- {text}\n" for stamp, text in notes)
    write_atomic(notes_path(state), HEADER + body)


def recent_notes(state: StatePaths, max_chars: int = 1500) -> list[str]:
    """The newest notes that fit in ``max_chars``, oldest first."""
    path = notes_path(state)
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
