"""The audit log: one JSON line per event, appended with a single write so an interrupted
session leaves every earlier line intact and readable."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class AuditLog:
    """An ``EventSink`` that appends events to a JSONL file. A failing disk disables it with one warning;
    it never stops the agent."""

    def __init__(self, path: Path, session_id: str | None = None) -> None:
        from locoder.safety.secrets import secret_env_values

        self.path = path
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.failed = False
        self._secrets = tuple(secret_env_values(os.environ))

    def emit(self, event: dict[str, Any]) -> None:
        if self.failed or event.get("transient"):
            return
        from locoder.safety.secrets import redact_obj

        event = redact_obj(event, self._secrets)  # no key or token ever reaches the log
        record = {"schema": SCHEMA_VERSION, "ts": round(time.time(), 3), "session": self.session_id, **event}
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            self.failed = True
            print(f"locoder: warning: audit log {self.path} cannot be written ({exc.strerror}); "
                  "continuing without it", file=sys.stderr)


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """Every complete record; a torn last line (a kill mid-write) is skipped."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
