"""The audit log: one JSON line per event, appended with a single write so an interrupted
session leaves every earlier line intact and readable. Always valid UTF-8: text no encoding can write (a
file name with a non-UTF-8 byte, a lone surrogate from a model) is kept as a JSON ``\\udcXX`` escape."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from locoder.regular_files import append_line, read_json_lines

SCHEMA_VERSION = 1


class Record(Protocol):
    """A typed event (``locoder.events``): its ``to_dict()`` is the record written."""

    def to_dict(self) -> dict[str, Any]: ...


class AuditLog:
    """An ``EventSink`` that appends events to a JSONL file. A failing disk disables it with one warning;
    it never stops the agent."""

    def __init__(self, path: Path, session_id: str | None = None) -> None:
        from locoder.safety.secrets import secret_env_values

        self.path = path
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.failed = False
        self._tail_checked = False
        self._secrets = tuple(secret_env_values(os.environ))

    def _line(self, event: dict[str, Any]) -> bytes:
        from locoder.safety.secrets import redact_obj

        head = {"schema": SCHEMA_VERSION, "ts": round(time.time(), 3), "session": self.session_id}
        try:
            record = {**head, **redact_obj(event, self._secrets)}  # no key or token ever reaches the log
            text = json.dumps(record, ensure_ascii=False, default=str)
        except (RecursionError, ValueError, TypeError) as exc:  # nested too deeply, or a circular value
            text = json.dumps({**head, **_unloggable(event, exc)}, ensure_ascii=False, default=str)
        # backslashreplace turns a lone surrogate into its JSON escape (\udcff), so the line stays valid JSON.
        return (text + "\n").encode("utf-8", "backslashreplace")

    def emit(self, event: Record | Mapping[str, Any]) -> None:
        """Append the event's record (a typed event's ``to_dict()``, or a record as it is); transient
        events are not written."""
        record = dict(event) if isinstance(event, Mapping) else event.to_dict()
        if self.failed or record.get("transient"):
            return
        try:
            # A FIFO planted in its place is refused, not waited on; a torn line left by a kill is ended first.
            append_line(self.path, self._line(record), end_torn_tail=not self._tail_checked)
            self._tail_checked = True
        except OSError as exc:
            self.failed = True
            print(f"locoder: warning: audit log {self.path} cannot be written ({exc.strerror}); "
                  "continuing without it", file=sys.stderr)


def _unloggable(event: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """What is kept of an event too deep or odd to serialise: its type and step, and why."""
    kept = {k: event[k] for k in ("type", "step") if isinstance(event.get(k), (str, int))}
    return {**kept, "unloggable": f"{type(exc).__name__}: {str(exc)[:200]}"}


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """Every complete record; a torn line (a kill mid-write, even inside a UTF-8 character) is skipped."""
    return read_json_lines(path)
