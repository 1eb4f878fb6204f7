"""Persistent vector memory: every task, final answer and note, embedded, in one SQLite file.

``memory.db`` in the state folder's ``memory/`` (``StatePaths.memory``, or ``memory_vector_dir``) holds each memory's text, kind (``user``,
``answer``, ``note``), session, time and unit vector; search is exact cosine similarity in numpy, so recall
is never approximate and nothing but the one file has to stay consistent.

The notes file ``memory_bank/global.md`` stays the human-readable log of notes. Writes take a file lock
(concurrent sessions queue instead of corrupting anything); every change is one transaction; and on open
the notes file and the store are reconciled: a note in one and not the other (a kill -9 between the two
writes, or a note added by hand) is copied over, and a forgotten note (kept as a tombstone) is removed from
the file. So after any crash, the next load sees them agree.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from locoder.locations import StatePaths
from locoder.locking import locked
from locoder.memory.notes import append_note, notes_path, read_notes, rewrite_notes

SCHEMA = 1
KINDS = ("user", "answer", "note")
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, text TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL,
    text_hash TEXT NOT NULL, model TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS memories_hash ON memories(kind, text_hash);
CREATE TABLE IF NOT EXISTS forgotten (text_hash TEXT PRIMARY KEY, created REAL NOT NULL);
"""


@dataclass
class Memory:
    id: int
    kind: str
    text: str
    session: str
    created: float
    score: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))
        return d


def normalise(text: str) -> str:
    return " ".join(text.split())


def text_hash(text: str) -> str:
    return hashlib.sha1(normalise(text).encode("utf-8")).hexdigest()


class _Growing:
    """Vectors and their ids, with room to grow: appending does not copy everything each time."""

    def __init__(self) -> None:
        self._data = None
        self.ids: list[int] = []

    @property
    def matrix(self):
        import numpy as np

        if self._data is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._data[: len(self.ids)]

    def append(self, vectors, ids: list[int]) -> None:
        import numpy as np

        vectors = np.asarray(vectors, dtype=np.float32)
        need = len(self.ids) + len(ids)
        if self._data is None or need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self.ids), 64), vectors.shape[1]), dtype=np.float32)
            if self._data is not None:
                grown[: len(self.ids)] = self._data[: len(self.ids)]
            self._data = grown
        self._data[len(self.ids):need] = vectors
        self.ids += ids


class MemoryStore:
    def __init__(self, state: StatePaths, embedder, folder: Path | None = None) -> None:
        """The memory of the workspace whose state is ``state`` (its ``StatePaths``);
        ``folder`` moves the vector store out of ``state.memory``."""
        self.state = state
        self.state_dir = self.state.root
        self.folder = folder or self.state.memory
        self.embedder = embedder
        self._db: sqlite3.Connection | None = None
        self._matrix: tuple | None = None
        self.note = ""
        """Set when the store had to be made afresh, and why."""

    # -- opening -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time across processes (an flock on ``memory/.lock``)."""
        with locked(self.folder / ".lock"):
            yield

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
            with self.locked():
                self._reconcile()
        return self._db

    def _open(self) -> sqlite3.Connection:
        from locoder.sqlite_files import discard, fresh, open_versioned

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "memory.db"
        db, problem = open_versioned(path, SCHEMA_SQL, SCHEMA, "SELECT count(*) FROM memories", synchronous="FULL")
        if db is not None:
            return db
        # Never delete memories: the unusable file is kept beside the new one.
        aside = path.with_name(f"memory.db.unreadable-{int(time.time())}")
        discard(path, keep_as=aside)
        self.note = f"the memory store could not be used ({problem}); kept as {aside.name}, started afresh"
        return fresh(path, SCHEMA_SQL, SCHEMA, synchronous="FULL")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _reconcile(self) -> None:
        """Make the notes file and the store's notes agree (see the module's docstring)."""
        db = self._db
        forgotten = {r[0] for r in db.execute("SELECT text_hash FROM forgotten")}
        stored = {r["text_hash"]: (r["text"], r["created"])
                  for r in db.execute("SELECT text_hash, text, created FROM memories WHERE kind = 'note' ORDER BY id")}
        in_file = read_notes(self.state)
        file_hashes = {text_hash(text) for _, text in in_file}
        if any(text_hash(text) in forgotten for _, text in in_file):
            rewrite_notes(self.state, [(s, t) for s, t in in_file if text_hash(t) not in forgotten])
        missing = [text for _, text in in_file if text_hash(text) not in stored and text_hash(text) not in forgotten]
        if missing:
            self._insert([(text, "note", "notes-file") for text in dict.fromkeys(missing)])
        for h, (text, created) in stored.items():
            if h not in file_hashes:
                append_note(self.state, text, now=datetime.fromtimestamp(created, timezone.utc))

    # -- writing -----------------------------------------------------------------------------------------
    def _insert(self, items: list[tuple[str, str, str]], vectors=None) -> list[int]:
        if vectors is None:
            vectors = self.embedder.embed([text for text, _, _ in items])
        now = time.time()
        ids = []
        before = self._cache_key()
        with self._db:
            for (text, kind, session), vector in zip(items, vectors):
                cur = self._db.execute(
                    "INSERT INTO memories (kind, text, session, created, text_hash, model, vector) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, text, session, now, text_hash(text), self.embedder.name, vector.astype("float32").tobytes()))
                ids.append(cur.lastrowid)
                self._db.execute("DELETE FROM forgotten WHERE text_hash = ?", (text_hash(text),))
        if self._matrix is not None and self._matrix[0] == before:
            # This process's own additions extend the cached vectors instead of reloading them all.
            self._matrix[1].append(vectors, ids)
            self._matrix = (self._cache_key(), self._matrix[1])
        else:
            self._matrix = None
        return ids

    def add_many(self, items: list[tuple[str, str, str]], vectors=None) -> list[int]:
        """Store several (text, kind, session) at once, with their vectors if already computed (imports,
        benchmarks); no de-duplication and no notes file: for user and answer memories."""
        if any(kind == "note" for _, kind, _ in items):
            raise ValueError("notes go through add(), which keeps the notes file in step")
        _ = self.db  # opened (and reconciled) before the lock is taken: reconcile takes it too
        with self.locked():
            return self._insert(items, vectors)

    def add(self, text: str, kind: str, session: str = "") -> Memory:
        """Store ``text``; the same text of the same kind is stored once (its time is refreshed)."""
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r} (one of {', '.join(KINDS)})")
        text = text.strip()
        if not text:
            raise ValueError("the memory is empty")
        db = self.db
        with self.locked():
            row = db.execute("SELECT * FROM memories WHERE kind = ? AND text_hash = ?", (kind, text_hash(text))).fetchone()
            if row is not None:
                with db:
                    db.execute("UPDATE memories SET created = ? WHERE id = ?", (time.time(), row["id"]))
                return self.get(row["id"])
            (new_id,) = self._insert([(text, kind, session)])
            if kind == "note":
                # After the store: a crash in between is repaired by the next reconcile.
                append_note(self.state, text)
        return self.get(new_id)

    def forget(self, memory_id: int) -> Memory | None:
        db = self.db
        with self.locked():
            memory = self.get(memory_id)
            if memory is None:
                return None
            with db:
                db.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
                if memory.kind == "note":
                    db.execute("INSERT OR REPLACE INTO forgotten VALUES (?, ?)", (text_hash(memory.text), time.time()))
            if memory.kind == "note":
                notes = read_notes(self.state)
                rewrite_notes(self.state, [(s, t) for s, t in notes if text_hash(t) != text_hash(memory.text)])
        self._matrix = None
        return memory

    # -- reading -----------------------------------------------------------------------------------------
    def _row(self, row: sqlite3.Row, score: float = 0.0) -> Memory:
        return Memory(row["id"], row["kind"], row["text"], row["session"], row["created"], score)

    def get(self, memory_id: int) -> Memory | None:
        row = self.db.execute("SELECT * FROM memories WHERE id = ?", (memory_id,)).fetchone()
        return self._row(row) if row else None

    def list(self, kind: str | None = None, limit: int = 50) -> list[Memory]:
        """The newest memories first."""
        query = "SELECT * FROM memories" + (" WHERE kind = ?" if kind else "") + " ORDER BY created DESC, id DESC LIMIT ?"
        return [self._row(r) for r in self.db.execute(query, (kind, limit) if kind else (limit,))]

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM memories").fetchone()[0]

    def _cache_key(self) -> tuple:
        """Changes whenever any process adds or removes a memory."""
        return tuple(self.db.execute("SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM memories").fetchone())

    def _vectors(self):
        key = self._cache_key()
        if self._matrix is None or self._matrix[0] != key:
            rows = self.db.execute("SELECT id, vector FROM memories WHERE model = ? ORDER BY id",
                                   (self.embedder.name,)).fetchall()
            growing = _Growing()
            if rows:
                import numpy as np

                growing.append(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1),
                               [r[0] for r in rows])
            self._matrix = (key, growing)
        return self._matrix[1].matrix, self._matrix[1].ids

    def search(self, query: str, k: int = 5, min_score: float = 0.0, kinds: tuple[str, ...] = KINDS) -> list[Memory]:
        """The ``k`` memories most similar to ``query`` with a cosine of at least ``min_score``, best first."""
        import numpy as np

        if not query.strip():
            raise ValueError("the query is empty")
        matrix, ids = self._vectors()
        if not ids:
            return []
        scores = matrix @ self.embedder.embed([query])[0]
        if len(kinds) == len(KINDS) and len(scores) > 4 * k + 16:
            # Only the best few need sorting (all kinds wanted, so none of them is skipped).
            top = np.argpartition(-scores, 4 * k + 15)[: 4 * k + 16]
            order = top[np.argsort(-scores[top], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        out: list[Memory] = []
        for i in order:
            if scores[i] < min_score or len(out) >= k:
                break
            memory = self.get(ids[i])
            if memory is not None and memory.kind in kinds:
                memory.score = float(scores[i])
                out.append(memory)
        return out

    def export(self) -> list[dict]:
        return [self._row(r).as_dict() for r in self.db.execute("SELECT * FROM memories ORDER BY id")]


__all__ = ["KINDS", "Memory", "MemoryStore", "notes_path"]
