"""SQLite files with a schema version: opened in WAL mode, checked, and set aside or removed when they
cannot be used. The code index and the memory store share this. Imports nothing of locoder."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


def connect(path: Path, schema_sql: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.executescript(schema_sql)
    return db


def open_versioned(path: Path, schema_sql: str, version: int, probe: str,
                   synchronous: str = "NORMAL") -> tuple[sqlite3.Connection | None, str]:
    """The database at ``path`` (made if missing) and "" when it is usable; else None and why not (it is
    not a database, or holds another schema version). ``probe`` is a query that must run."""
    db = None
    try:
        db = connect(path, schema_sql, synchronous)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(version),))
            db.commit()
        elif row[0] != str(version):
            db.close()
            return None, f"its schema changed ({row[0]} -> {version})"
        db.execute(probe).fetchone()
        return db, ""
    except sqlite3.DatabaseError as exc:
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        return None, f"it was unreadable ({exc})"


def discard(path: Path, keep_as: Path | None = None) -> None:
    """Remove the database and its WAL files, or move the database to ``keep_as`` first."""
    if keep_as is not None:
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, keep_as)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def fresh(path: Path, schema_sql: str, version: int, synchronous: str = "NORMAL") -> sqlite3.Connection:
    db = connect(path, schema_sql, synchronous)
    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(version),))
    db.commit()
    return db
