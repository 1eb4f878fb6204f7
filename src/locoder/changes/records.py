"""The record of what each task changed, in the state folder (``changes/log.json``, newest last, written
atomically): how it was kept (a commit, a checkpoint, or left uncommitted), the files, and whether it was
undone. ``locoder diff`` shows the newest; ``locoder undo`` reverts it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from locoder.atomic import write_atomic
from locoder.changes.errors import ChangeError

KEEP = 20
"""Records kept; the checkpoint copies only they (and the last scan) name are deleted."""


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ChangeError(f"cannot read {path}: {exc}; move it away to start a new record") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ChangeError(f"{path} is not a list of records; move it away to start a new record")
    return data


def save(path: Path, records: list[dict[str, Any]]) -> None:
    write_atomic(path, json.dumps(records[-KEEP:], indent=1, ensure_ascii=True) + "\n")


def append(path: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    records = [*load(path), record][-KEEP:]
    save(path, records)
    return records


def newest(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return records[-1] if records else None
