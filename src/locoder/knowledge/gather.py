"""Knowledge and evidence for a question: the project's memories, its documentation, its code, and
context7 when those have nothing. Each piece comes with a citation (``file:line``, ``doc#section``,
``memory #id``, ``context7 /org/lib``) and a score, so a prompt or an answer can be built from the best."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from pathlib import Path

from locoder.knowledge.context7 import Context7Client, Context7Error, truncate


@dataclass
class Evidence:
    source: str
    """``memory``, ``docs``, ``code`` or ``context7``."""
    cite: str
    text: str
    score: float
    where: tuple[str, int] | None = None
    """(path, first line) for evidence from the workspace: the same place is cited once."""

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("where")
        return d


def is_doc_path(path: str, docs_dirs: tuple[str, ...]) -> bool:
    """A file of the project's documentation: under one of ``docs_dirs``, or a top-level README."""
    if "/" not in path and fnmatch.fnmatch(path.lower(), "readme*"):
        return True
    return any(path == d.strip("/") or path.startswith(d.strip("/") + "/") for d in docs_dirs if d.strip("/"))


def doc_chunk_ids(index, docs_dirs: tuple[str, ...]) -> set[int]:
    """Chunks that are documentation: sections and text of doc files, and definitions with a docstring."""
    ids = set()
    for row in index.db.execute("SELECT id, path, kind, doc FROM chunks"):
        if (row["kind"] in ("section", "text") and is_doc_path(row["path"], docs_dirs)) or \
                (row["doc"] and row["kind"] not in ("module", "text", "section")):
            ids.add(row["id"])
    return ids


def docs_evidence(index, embedder, query: str, docs_dirs: tuple[str, ...], k: int = 5,
                  min_score: float = 0.0, progress=None) -> list[Evidence]:
    """The best documentation passages for ``query`` (vectors over doc chunks; embeds missing ones, telling
    ``progress(done, total)`` as it goes)."""
    from locoder.index.search import build_vectors, vector_ranking

    allowed = doc_chunk_ids(index, docs_dirs)
    if not allowed:
        return []
    build_vectors(index, embedder, ids=allowed, progress=progress, batch=32 if progress else 256)
    ranked = [(cid, s) for cid, s in vector_ranking(index, embedder, query, k, allowed) if s >= min_score]
    rows = {r["id"]: r for r in index.chunks([cid for cid, _ in ranked])}
    out = []
    for cid, score in ranked:
        r = rows.get(cid)
        if r is None:
            continue
        if r["kind"] == "section":
            cite, text = f"{r['path']}#{r['qualname']} (line {r['start']})", r["text"]
        elif r["kind"] == "text":
            cite, text = f"{r['path']}:{r['start']}-{r['end']}", r["text"]
        else:
            cite, text = f"{r['path']}:{r['start']} {r['qualname']} (docstring)", f"{r['signature']}\n{r['doc']}"
        out.append(Evidence("docs", cite, text, score, (r["path"], r["start"])))
    return out


def memory_evidence(store, query: str, k: int = 5, min_score: float = 0.0) -> list[Evidence]:
    return [Evidence("memory", f"memory #{m.id} ({m.kind}, {m.as_dict()['created'][:10]})", m.text, m.score)
            for m in store.search(query, k=k, min_score=min_score)]


def code_evidence(index, embedder, query: str, k: int = 5) -> list[Evidence]:
    from locoder.index.search import search

    hits = search(index, query, k=k, mode="hybrid" if embedder is not None else "lexical", embedder=embedder)
    return [Evidence("code", f"{h.path}:{h.start}-{h.end}" + (f" {h.qualname}" if h.qualname else ""),
                     h.text, h.score, (h.path, h.start)) for h in hits]


def context7_evidence(client: Context7Client, query: str, library: str = "", k: int = 3,
                      chars: int = 256, known: list[str] | None = None) -> list[Evidence]:
    """Passages from context7 for ``query``: the library is ``library`` (a name or an /org/project id) or,
    without one, the best match for the query. Passages already known locally are dropped; each is cut to
    ``chars``. Raises Context7Error."""
    if library.startswith("/"):
        lib_id = library
    else:
        found = client.search(library or query)
        if not found:
            return []
        lib_id = found[0].id
    snippets = client.docs(lib_id, topic=query if library else "")
    seen = [" ".join(t.split()).lower() for t in (known or [])]
    out: list[Evidence] = []
    for snippet in snippets:
        flat = " ".join(snippet.split()).lower()
        if any(flat[:120] in s or s[:120] in flat for s in seen if s):
            continue
        seen.append(flat)
        out.append(Evidence("context7", f"context7 {lib_id}", truncate(snippet, chars), 0.4))
        if len(out) >= k:
            break
    return out


def gather(workspace: Path, query: str, *, state=None, store=None, embedder=None, docs_dirs: tuple[str, ...] = ("docs",),
           context7: Context7Client | None = None, k: int = 8, context7_chars: int = 256) -> tuple[list[Evidence], list[str]]:
    """Evidence from every source for ``query``, best first (scores made comparable per source), and
    notes on sources that failed. context7 is asked only when the local sources found nothing relevant.
    ``state``: the workspace's ``StatePaths`` (where its code index lives; None: the default state folder)."""
    from locoder.index.store import CodeIndex

    notes: list[str] = []
    found: list[Evidence] = []
    if store is not None:
        found += memory_evidence(store, query, k=3, min_score=0.3)
    index = CodeIndex(workspace, state)
    try:
        index.update()
        if embedder is not None:
            found += docs_evidence(index, embedder, query, docs_dirs, k=4, min_score=0.3)
        code = code_evidence(index, embedder, query, k=5)
    finally:
        index.close()
    # Code scores are fused scores (0..1): rank them beside cosines, a little below a strong doc or memory.
    found += [Evidence(e.source, e.cite, e.text, e.score * 0.6, e.where) for e in code]
    if context7 is not None and not any(e.source in ("memory", "docs") and e.score >= 0.45 for e in found):
        try:
            found += context7_evidence(context7, query, chars=context7_chars, known=[e.text for e in found])
        except Context7Error as exc:
            notes.append(str(exc))
    found.sort(key=lambda e: -e.score)
    unique, places = [], set()
    for e in found:
        if e.where is not None and e.where in places:
            continue
        places.add(e.where)
        unique.append(e)
    return unique[:k], notes
