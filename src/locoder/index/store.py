"""The workspace's code index: one SQLite file in the state folder's ``index/`` (``StatePaths.index``).

Files are re-read only when their size or mtime changed, and re-chunked only when their content hash
changed, so re-indexing after a one-file change touches that file alone. Embeddings are keyed by the hash
of the text they embed, so unchanged chunks keep theirs. Every update is one transaction (a crash leaves
the previous index); a file that is not a database, a different schema version or a different embedding
model makes a fresh index, with a note saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from locoder.index.chunks import Chunk, chunk_file, identifiers, language_of
from locoder.index.files import looks_binary, workspace_files
from locoder.index.lexical import BM25, tokenize
from locoder.locations import StatePaths
from locoder.regular_files import read_regular

SCHEMA = 2
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    language TEXT NOT NULL, lines INTEGER NOT NULL, idents TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    start INTEGER NOT NULL, end INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, qualname TEXT NOT NULL,
    signature TEXT NOT NULL, doc TEXT NOT NULL, text TEXT NOT NULL, tokens TEXT NOT NULL, text_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_name ON chunks(name);
CREATE TABLE IF NOT EXISTS vectors (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total)."""


@dataclass
class IndexStats:
    files: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    seconds: float = 0.0
    rebuilt: str = ""
    """Why the index was made afresh ("" when it was not)."""

    def as_dict(self) -> dict:
        return {"files": self.files, "chunks": self.chunks, "added": len(self.added), "changed": len(self.changed),
                "removed": len(self.removed), "unchanged": self.unchanged, "seconds": round(self.seconds, 3),
                "rebuilt": self.rebuilt}


def search_text(c: Chunk | sqlite3.Row) -> str:
    """What a chunk is searched by: where it is, what it is called, its signature and doc, its code."""
    get = c.__getitem__ if isinstance(c, sqlite3.Row) else lambda name: getattr(c, name)
    parts = [f"{get('path')} {get('qualname')}".strip(), get("signature"), get("doc"), get("text")]
    return "\n".join(p for p in parts if p)


class CodeIndex:
    def __init__(self, workspace: Path, state: StatePaths | None = None) -> None:
        """The index of ``workspace``, kept in ``state`` (None: the default state folder inside it)."""
        self.workspace = Path(os.path.realpath(workspace))
        self.state = state or StatePaths.for_workspace(self.workspace)
        self.folder = self.state.index
        self.path = self.folder / "index.db"
        self._db: sqlite3.Connection | None = None
        self.note = ""
        """Set when the index had to be made afresh, and why."""
        self._lexical: tuple | None = None
        self._vectors: tuple | None = None

    # -- opening, with recovery --------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        from locoder.sqlite_files import discard, fresh, open_versioned

        self.folder.mkdir(parents=True, exist_ok=True)
        db, problem = open_versioned(self.path, SCHEMA_SQL, SCHEMA, "SELECT count(*) FROM chunks")
        if db is not None:
            return db
        self.note = f"the index was made afresh: {problem}"
        discard(self.path)
        return fresh(self.path, SCHEMA_SQL, SCHEMA)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Goes up with every change to the chunks: caches built from them are keyed by it."""
        return int(self.meta("generation", "0"))

    # -- building ----------------------------------------------------------------------------------------
    def update(self, progress: Progress | None = None) -> IndexStats:
        """Bring the index up to date with the workspace; returns what changed."""
        start = time.monotonic()
        db = self.db
        stats = IndexStats(rebuilt=self.note)
        known = {r["path"]: r for r in db.execute("SELECT path, sha256, size, mtime_ns FROM files")}
        paths = list(workspace_files(self.workspace, self.state))
        seen = set()
        with db:
            for done, rel in enumerate(paths, 1):
                if progress:
                    progress("index", done, len(paths))
                full = self.workspace / rel
                try:
                    st = full.stat()
                except OSError:
                    continue
                old = known.get(rel)
                if old is not None and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
                    seen.add(rel)
                    stats.unchanged += 1
                    continue
                try:
                    data = read_regular(full)  # a FIFO swapped in after the listing is skipped, not waited on
                except OSError:
                    continue
                if looks_binary(data):
                    continue
                seen.add(rel)
                digest = hashlib.sha256(data).hexdigest()
                if old is not None and old["sha256"] == digest:
                    db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (st.st_size, st.st_mtime_ns, rel))
                    stats.unchanged += 1
                    continue
                (stats.changed if old is not None else stats.added).append(rel)
                self._store_file(rel, data, digest, st)
            for rel in set(known) - seen:
                db.execute("DELETE FROM files WHERE path = ?", (rel,))
                stats.removed.append(rel)
            if stats.added or stats.changed or stats.removed or self.generation == 0:
                self._set_meta("generation", str(self.generation + 1))
                db.execute("DELETE FROM vectors WHERE text_hash NOT IN (SELECT text_hash FROM chunks)")
        stats.files = db.execute("SELECT count(*) FROM files").fetchone()[0]
        stats.chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        stats.seconds = time.monotonic() - start
        self.note = ""
        return stats

    def _store_file(self, rel: str, data: bytes, digest: str, st: os.stat_result) -> None:
        text = data.decode("utf-8", "replace")
        chunks = chunk_file(rel, data)
        db = self.db
        db.execute("DELETE FROM files WHERE path = ?", (rel,))
        db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (rel, digest, st.st_size, st.st_mtime_ns, language_of(rel), text.count("\n") + 1,
                    json.dumps(identifiers(text), separators=(",", ":"))))
        db.executemany(
            "INSERT INTO chunks (path, start, end, kind, name, qualname, signature, doc, text, tokens, text_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(rel, c.start, c.end, c.kind, c.name, c.qualname, c.signature, c.doc, c.text,
              " ".join(tokenize(search_text(c))),
              hashlib.sha1(search_text(c).encode("utf-8", "replace")).hexdigest()) for c in chunks])

    # -- reading -----------------------------------------------------------------------------------------
    def chunks(self, ids: list[int] | None = None) -> list[sqlite3.Row]:
        if ids is None:
            return self.db.execute("SELECT * FROM chunks ORDER BY id").fetchall()
        rows = {r["id"]: r for r in self.db.execute(
            f"SELECT * FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
        return [rows[i] for i in ids if i in rows]

    def file_chunks(self, rel: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM chunks WHERE path = ? ORDER BY start, end DESC", (rel,)).fetchall()

    def files(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT path, language, lines, size FROM files ORDER BY path").fetchall()

    def file_identifiers(self) -> dict[str, dict[str, int]]:
        return {r["path"]: json.loads(r["idents"]) for r in self.db.execute("SELECT path, idents FROM files")}

    def lexical(self) -> tuple[BM25, list[int]]:
        """The BM25 index over all chunks and the chunk ids of its documents, cached by generation (in
        memory, and in a file beside the database for the next process). The file holds plain arrays (numpy,
        no pickle): a command that can write the state folder (Landlock cannot stop it) must not be able to
        plant code that locoder would run when it loads the cache."""
        cache = self.folder / "bm25.npz"
        generation = self.generation
        if self._lexical is not None and self._lexical[0] == generation:
            return self._lexical[1], self._lexical[2]
        loaded = _load_bm25(cache, generation)
        if loaded is not None:
            self._lexical = (generation, *loaded)
            return loaded
        rows = self.db.execute("SELECT id, tokens FROM chunks ORDER BY id").fetchall()
        bm25 = BM25.build([r["tokens"].split() for r in rows])
        ids = [r["id"] for r in rows]
        _save_bm25(cache, generation, bm25, ids)
        self._lexical = (generation, bm25, ids)
        return bm25, ids

    # -- embeddings --------------------------------------------------------------------------------------
    def missing_vectors(self, ids: set[int] | None = None) -> list[tuple[str, str]]:
        """(text hash, search text) of chunks (of ``ids``, if given) whose text has no vector yet."""
        rows = self.db.execute(
            "SELECT c.* FROM chunks c LEFT JOIN vectors v ON v.text_hash = c.text_hash "
            "WHERE v.text_hash IS NULL ORDER BY c.id").fetchall()
        # Restricted before de-duplicating, so a text shared with a chunk outside ``ids`` is not skipped.
        missing: dict[str, str] = {}
        for r in rows:
            if (ids is None or r["id"] in ids) and r["text_hash"] not in missing:
                missing[r["text_hash"]] = search_text(r)
        return list(missing.items())

    def add_vectors(self, items: list[tuple[str, bytes]], model: str) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", items)
            self._set_meta("embedding_model", model)

    def check_embedding_model(self, model: str) -> None:
        """Vectors made by another model are dropped (they would not compare)."""
        current = self.meta("embedding_model")
        if current and current != model:
            with self.db:
                self.db.execute("DELETE FROM vectors")
                self._set_meta("embedding_model", model)
            self.note = f"the embeddings were made afresh: the model changed ({current} -> {model})"

    def vector_count(self) -> int:
        """How many chunks have a vector."""
        return self.db.execute(
            "SELECT count(*) FROM chunks c JOIN vectors v ON v.text_hash = c.text_hash").fetchone()[0]

    def vectors(self):
        """(matrix of unit vectors, chunk ids) for the chunks that have one; kept in memory until the
        chunks or the vectors change."""
        import numpy as np

        key = (self.generation, self.db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        if self._vectors is not None and self._vectors[0] == key:
            return self._vectors[1], self._vectors[2]
        rows = self.db.execute(
            "SELECT c.id, v.vector FROM chunks c JOIN vectors v ON v.text_hash = c.text_hash ORDER BY c.id").fetchall()
        if not rows:
            return np.zeros((0, 0), dtype=np.float32), []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        ids = [r[0] for r in rows]
        self._vectors = (key, matrix, ids)
        return matrix, ids


def _save_bm25(cache: Path, generation: int, bm25: BM25, ids: list[int]) -> None:
    import io

    import numpy as np

    from locoder.atomic import write_atomic

    sizes = [len(docs) for docs, _ in bm25.postings]
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.asarray([generation, SCHEMA], dtype=np.int64),
             terms=np.asarray(json.dumps(list(bm25.terms)).encode("utf-8")),
             offsets=np.cumsum([0, *sizes], dtype=np.int64),
             docs=np.concatenate([d for d, _ in bm25.postings]) if sizes else np.zeros(0, np.int32),
             freqs=np.concatenate([f for _, f in bm25.postings]) if sizes else np.zeros(0, np.float32),
             lengths=bm25.lengths, ids=np.asarray(ids, dtype=np.int64), k=np.asarray([bm25.k1, bm25.b]))
    try:
        write_atomic(cache, buffer.getvalue())
    except OSError:
        pass


def _load_bm25(cache: Path, generation: int) -> tuple[BM25, list[int]] | None:
    """The cached index when the file is whole and of this generation; None otherwise (it is rebuilt)."""
    import io

    import numpy as np

    from locoder.regular_files import read_regular

    try:
        with np.load(io.BytesIO(read_regular(cache)), allow_pickle=False) as data:
            generation_saved, schema = (int(v) for v in data["meta"])
            if generation_saved != generation or schema != SCHEMA:
                return None
            terms = json.loads(bytes(data["terms"]).decode("utf-8"))
            offsets, docs, freqs = data["offsets"], data["docs"], data["freqs"]
            postings = [(docs[offsets[i]:offsets[i + 1]], freqs[offsets[i]:offsets[i + 1]]) for i in range(len(terms))]
            k1, b = (float(v) for v in data["k"])
            bm25 = BM25({t: i for i, t in enumerate(terms)}, postings, data["lengths"], k1, b)
            return bm25, [int(i) for i in data["ids"]]
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, UnicodeDecodeError):
        return None
