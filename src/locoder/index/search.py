"""Searching the workspace: regular expressions over files (grep), BM25 and vectors over indexed chunks,
and both fused (hybrid: a weighted sum of the normalised scores)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from locoder.index.files import NOISE_DIRS, looks_binary, under
from locoder.index.store import CodeIndex
from locoder.regular_files import read_regular

VECTOR_WEIGHT = 0.6
"""Hybrid score = 0.4 * BM25 / best BM25 + 0.6 * (cosine - lowest) / (highest - lowest), over the top 100 of
each. Chosen with bench/bench_index.py on half of its standard-library queries and checked on the other half
(MRR 0.46 against 0.44 for vectors alone, 0.33 for BM25, 0.42 for reciprocal rank fusion)."""
DEPTH = 100


class SearchError(ValueError):
    """A bad query (an invalid regular expression, say), with a message for the user."""


# -- grep -------------------------------------------------------------------------------------------------
@dataclass
class Match:
    path: str
    line: int
    text: str


def _ripgrep(rg: str, pattern: str, target: str, glob: str, limit: int, cwd: Path,
             excludes: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Match] | None:
    cmd = [rg, "--line-number", "--with-filename", "--no-heading", "--color", "never", "--max-columns", "300", "-e", pattern]
    for skipped in sorted(NOISE_DIRS):
        cmd += ["-g", f"!{skipped}/"]
    for skipped in skip:  # anchored at the search root by the slash
        cmd += ["-g", f"!/{skipped}/"]
    for skipped in excludes:
        cmd += ["-g", skipped]
    if glob:
        cmd += ["-g", glob]
    cmd += ["--", target]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 2 and "regex parse error" in proc.stderr:
        raise SearchError(f"invalid pattern: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode not in (0, 1):
        return None
    out = []
    for raw in sorted(proc.stdout.splitlines()):
        path, _, rest = raw.removeprefix("./").partition(":")
        number, _, text = rest.partition(":")
        if number.isdigit():
            out.append(Match(path, int(number), text))
    return out[: limit + 1]


def _python_grep(pattern: str, root: Path, glob: str, limit: int, cwd: Path,
                 opener: Callable[[Path], BinaryIO | None] | None = None, skip: Sequence[str] = ()) -> list[Match]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise SearchError(f"invalid pattern: {exc}") from None
    hits: list[Match] = []
    if root.is_file():
        files = [root]
    else:
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in NOISE_DIRS
                                 and not under(os.path.relpath(os.path.join(dirpath, d), cwd), skip))
            files += [Path(dirpath) / f for f in sorted(filenames)]
    for path in files:
        if glob and not fnmatch.fnmatch(path.name, glob):
            continue
        try:
            if opener is None:
                data = read_regular(path, 2_000_000)[:2_000_000]  # FIFOs, devices and sockets are skipped
            else:
                handle = opener(path)
                if handle is None:
                    continue
                with handle:
                    data = handle.read(2_000_000)
        except OSError:
            continue
        if looks_binary(data):
            continue
        rel = os.path.relpath(path, cwd)
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if regex.search(line):
                hits.append(Match(rel, number, line[:300]))
                if len(hits) > limit:
                    return hits
    return hits


def grep(pattern: str, root: Path, cwd: Path, glob: str = "", limit: int = 50, *,
         opener: Callable[[Path], BinaryIO | None] | None = None, excludes: Sequence[str] = (),
         skip: Sequence[str] = ()) -> list[Match]:
    """Lines matching ``pattern`` under ``root`` (a file or folder), paths relative to ``cwd``, sorted; at
    most ``limit + 1`` (one more than asked says there are more). ripgrep when installed, else Python.
    ``opener(path)`` opens each file for the Python search, None to skip it (the tools pass their confinement);
    ``excludes`` are ripgrep ``-g`` globs for the same files (ripgrep never follows links); ``skip``: folders
    (relative to ``cwd``, the workspace) passed by, the state folder (``StatePaths.skipped``)."""
    rg = shutil.which("rg")
    target = os.path.relpath(root, cwd) if root != cwd else "."
    hits = _ripgrep(rg, pattern, target, glob, limit, cwd, excludes, skip) if rg else None
    if hits is None:
        hits = _python_grep(pattern, root, glob, limit, cwd, opener, skip)
    return hits


# -- chunk search ---------------------------------------------------------------------------------------
@dataclass
class Hit:
    id: int
    path: str
    start: int
    end: int
    kind: str
    qualname: str
    signature: str
    text: str
    score: float
    lexical_rank: int | None = None
    vector_rank: int | None = None

    def as_dict(self, with_text: bool = False) -> dict:
        d = {"path": self.path, "start": self.start, "end": self.end, "kind": self.kind, "name": self.qualname,
             "signature": self.signature, "score": round(self.score, 6), "lexical_rank": self.lexical_rank,
             "vector_rank": self.vector_rank}
        if with_text:
            d["text"] = self.text
        return d


def _hits(index: CodeIndex, ranked: list[tuple[int, float]], **ranks) -> list[Hit]:
    rows = {r["id"]: r for r in index.chunks([cid for cid, _ in ranked])}
    out = []
    for cid, score in ranked:
        r = rows.get(cid)
        if r is not None:
            out.append(Hit(cid, r["path"], r["start"], r["end"], r["kind"], r["qualname"], r["signature"], r["text"],
                           score, ranks.get("lexical", {}).get(cid), ranks.get("vector", {}).get(cid)))
    return out


def lexical_ranking(index: CodeIndex, query: str, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
    bm25, ids = index.lexical()
    if allowed is None:
        return [(ids[doc], score) for doc, score in bm25.search(query, k)]
    return [(ids[doc], score) for doc, score in bm25.search(query, len(ids)) if ids[doc] in allowed][:k]


def build_vectors(index: CodeIndex, embedder, progress: Callable[[int, int], None] | None = None,
                  batch: int = 256, ids: set[int] | None = None) -> int:
    """Embed every chunk (of ``ids``, if given) that has no vector yet, committing each batch (an
    interrupted build keeps what it made). Returns how many texts were embedded."""
    index.check_embedding_model(embedder.name)
    missing = index.missing_vectors(ids)
    done = 0
    for start in range(0, len(missing), batch):
        part = missing[start:start + batch]
        vectors = embedder.embed([text for _, text in part])
        index.add_vectors([(h, vectors[i].astype("float32").tobytes()) for i, (h, _) in enumerate(part)], embedder.name)
        done += len(part)
        if progress is not None:
            progress(done, len(missing))
    return done


def vector_ranking(index: CodeIndex, embedder, query: str, k: int,
                   allowed: set[int] | None = None) -> list[tuple[int, float]]:
    import numpy as np

    matrix, ids = index.vectors()
    if not ids:
        return []
    scores = matrix @ embedder.embed([query])[0]
    if allowed is not None:
        scores = np.where(np.fromiter((i in allowed for i in ids), dtype=bool, count=len(ids)), scores, -2.0)
    k = min(k, len(ids))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(ids[i], float(scores[i])) for i in top if scores[i] > -2.0]


def fuse(lexical: list[tuple[int, float]], vector: list[tuple[int, float]], k: int,
         weight: float = VECTOR_WEIGHT) -> list[tuple[int, float]]:
    """Both rankings in one: BM25 scores over the best one, cosines spread over 0..1, weighted and added."""
    scores: dict[int, float] = {}
    if lexical:
        best = lexical[0][1] or 1.0
        for cid, score in lexical:
            scores[cid] = (1 - weight) * score / best
    if vector:
        high, low = vector[0][1], vector[-1][1]
        for cid, score in vector:
            scores[cid] = scores.get(cid, 0.0) + weight * (score - low) / max(high - low, 1e-9)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]


def search(index: CodeIndex, query: str, k: int = 10, mode: str = "hybrid", embedder=None,
           allowed: set[int] | None = None) -> list[Hit]:
    """The ``k`` best chunks for ``query`` (among ``allowed`` chunk ids, if given). ``mode``: ``lexical``
    (BM25), ``vector`` or ``hybrid``; the vector modes need ``embedder`` and build missing vectors first."""
    if not query.strip():
        raise SearchError("the query is empty")
    depth = max(k * 5, DEPTH)
    lexical = lexical_ranking(index, query, depth, allowed) if mode in ("lexical", "hybrid") else []
    vector: list[tuple[int, float]] = []
    if mode in ("vector", "hybrid"):
        if embedder is None:
            raise SearchError(f"{mode} search needs an embedder")
        build_vectors(index, embedder, ids=allowed)
        vector = vector_ranking(index, embedder, query, depth, allowed)
    ranks = {"lexical": {cid: r for r, (cid, _) in enumerate(lexical, 1)},
             "vector": {cid: r for r, (cid, _) in enumerate(vector, 1)}}
    ranked = {"lexical": lexical[:k], "vector": vector[:k]}.get(mode) or fuse(lexical, vector, k=k)
    return _hits(index, ranked, **ranks)
