"""What the search commands do, as data: ``locoder index``, ``emb-index``, ``grep``, ``esearch``, ``vretr``,
``tree``, ``ls`` and ``codectx`` call these, and so do the agent's tools. Each returns a JSON-able dict;
``render`` turns one into the text a terminal (or a model) reads. ``state`` (the workspace's ``StatePaths``;
None: the default state folder) says where the index lives and which folder the walkers pass by."""

from __future__ import annotations

import os
import re
from pathlib import Path

from locoder.index.files import skipped_state
from locoder.index.search import SearchError, build_vectors, grep, search
from locoder.index.store import CodeIndex
from locoder.locations import StatePaths
from locoder.regular_files import read_regular

GENERIC_STEMS = frozenset({"__init__", "index", "main", "mod", "lib", "__main__"})
IMPORT_LINE = re.compile(r"^\s*(import\s|from\s+\S+\s+import\s|use\s|#include\s|package\s|require\(|const\s+\w+\s*=\s*require\()")


def open_index(workspace: Path, progress=None, state: StatePaths | None = None) -> tuple[CodeIndex, dict]:
    index = CodeIndex(workspace, state)
    stats = index.update(progress=progress)
    return index, stats.as_dict()


def embedder():
    from locoder.index.embed import MiniLMEmbedder

    return MiniLMEmbedder()


def do_index(workspace: Path, progress=None, state: StatePaths | None = None) -> dict:
    index, stats = open_index(workspace, progress, state)
    index.close()
    return {"command": "index", "index": str(index.path), **stats}


def do_emb_index(workspace: Path, progress=None, state: StatePaths | None = None) -> dict:
    index, stats = open_index(workspace, progress, state)
    model = embedder()
    made = build_vectors(index, model, progress=(lambda d, t: progress("embed", d, t)) if progress else None)
    vectors = index.vector_count()
    index.close()
    return {"command": "emb-index", "model": model.name, "embedded": made, "vectors": vectors, **stats,
            "note": index.note}


def do_grep(workspace: Path, pattern: str, path: str = ".", glob: str = "", limit: int = 50,
            state: StatePaths | None = None) -> dict:
    root = (workspace / path).resolve()
    if not root.exists():
        raise SearchError(f"{path} does not exist")
    hits = grep(pattern, root, workspace, glob=glob, limit=limit, skip=skipped_state(workspace, state))
    return {"command": "grep", "pattern": pattern, "more": len(hits) > limit,
            "matches": [{"path": h.path, "line": h.line, "text": h.text} for h in hits[:limit]]}


def do_search(workspace: Path, query: str, k: int = 10, mode: str = "hybrid", progress=None,
              with_text: bool = False, state: StatePaths | None = None) -> dict:
    index, _ = open_index(workspace, progress, state)
    model = embedder() if mode != "lexical" else None
    if model is not None and progress is not None and index.missing_vectors():
        build_vectors(index, model, progress=lambda d, t: progress("embed", d, t))
    hits = search(index, query, k=k, mode=mode, embedder=model)
    index.close()
    return {"command": "esearch" if mode != "vector" else "vretr", "query": query, "mode": mode,
            "hits": [h.as_dict(with_text=with_text) for h in hits]}


def do_map(workspace: Path, task: str = "", tokens: int = 1024, state: StatePaths | None = None) -> dict:
    from locoder.index.repomap import repo_map

    index, _ = open_index(workspace, state=state)
    entries = repo_map(index, task, tokens)
    index.close()
    return {"command": "map", "task": task, "tokens": tokens,
            "files": [{"path": e.path, "rank": round(e.rank, 6),
                       "definitions": [{"line": line, "signature": sig} for line, sig in e.definitions]}
                      for e in entries]}


def do_tree(workspace: Path, path: str = ".", depth: int = 3, state: StatePaths | None = None) -> dict:
    from locoder.index.files import workspace_files

    root = (workspace / path).resolve()
    rel_root = os.path.relpath(root, workspace)
    prefix = "" if rel_root == "." else rel_root + "/"
    files = [f for f in workspace_files(workspace, state) if f.startswith(prefix)]
    return {"command": "tree", "path": path, "depth": depth, "files": [f[len(prefix):] for f in files]}


def do_codectx(workspace: Path, path: str, state: StatePaths | None = None) -> dict:
    index, _ = open_index(workspace, state=state)
    rel = os.path.relpath((workspace / path).resolve(), workspace)
    rows = index.file_chunks(rel)
    if not rows and not (workspace / rel).is_file():
        index.close()
        raise SearchError(f"{path} is not an indexed file")
    try:
        text = read_regular(workspace / rel, 2_000_000).decode("utf-8", "replace")
    except OSError as exc:
        index.close()
        raise SearchError(f"{path} cannot be read: {exc}") from None
    lines = text.splitlines()
    definitions = [{"kind": r["kind"], "name": r["qualname"], "start": r["start"], "end": r["end"],
                    "signature": r["signature"], "doc": r["doc"].split("\n", 1)[0]}
                   for r in rows if r["kind"] not in ("module", "text")]
    # One entry per definition (a long one is stored in parts).
    seen, unique = set(), []
    for d in definitions:
        if (d["name"], d["kind"]) not in seen:
            seen.add((d["name"], d["kind"]))
            unique.append(d)
    imports = [line.strip() for line in lines if IMPORT_LINE.match(line)]
    top_names = {d["name"] for d in unique if "." not in d["name"] and len(d["name"]) >= 3}
    # A file uses this one when it names its module (an import, in most languages) and some of its
    # top-level definitions.
    stem = Path(rel).stem
    module = Path(rel).parent.name if stem in GENERIC_STEMS else stem
    used_by: dict[str, list[str]] = {}
    for other, idents in index.file_identifiers().items():
        if other == rel or module not in idents:
            continue
        names = sorted(n for n in top_names if n in idents)
        if names:
            used_by[other] = names
    index.close()
    counts: dict[str, int] = {}
    for d in unique:
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}{'es' if k == 'class' and n > 1 else 's' if n > 1 else ''}" for k, n in counts.items())
    return {"command": "codectx", "path": rel, "lines": len(lines),
            "summary": f"{len(lines)} lines; {summary or 'no definitions'}; used by {len(used_by)} files",
            "imports": imports, "definitions": unique, "used_by": used_by}


# -- text ---------------------------------------------------------------------------------------------------
def _tree_lines(files: list[str], depth: int) -> list[str]:
    out, shown = [], set()
    for f in files:
        parts = f.split("/")
        for level in range(min(len(parts), depth)):
            key = "/".join(parts[: level + 1])
            if key in shown:
                continue
            shown.add(key)
            is_dir = level < len(parts) - 1
            out.append("  " * level + parts[level] + ("/" if is_dir else ""))
    return out


def _render_index(result: dict, verbose: bool) -> str:
    lines = [f"{result['files']} files, {result['chunks']} chunks ({result['added']} added, {result['changed']} "
             f"changed, {result['removed']} removed, {result['unchanged']} unchanged) in {result['seconds']:.2f}s"]
    if result["command"] == "emb-index":
        lines.append(f"{result['vectors']} vectors ({result['embedded']} embedded now) with {result['model']}")
    lines += [f"note: {n}" for n in (result.get("rebuilt"), result.get("note")) if n]
    return "\n".join(lines)


def _render_grep(result: dict, verbose: bool) -> str:
    if not result["matches"]:
        return f"no matches for {result['pattern']!r}"
    body = "\n".join(f"{m['path']}:{m['line']}:{m['text']}" for m in result["matches"])
    return body + ("\n... [more matches; narrow the pattern or path]" if result["more"] else "")


def _render_hits(result: dict, verbose: bool) -> str:
    if not result["hits"]:
        return f"nothing found for {result['query']!r}"
    out = []
    for h in result["hits"]:
        name = f" {h['kind']} {h['name']}" if h["name"] else f" ({h['kind']})"
        out.append(f"{h['path']}:{h['start']}-{h['end']}{name}  score {h['score']:.4f}")
        if h["signature"]:
            out.append(f"    {h['signature']}")
        if verbose and h.get("text"):
            out += ["    " + line for line in h["text"].splitlines()[:12]]
    return "\n".join(out)


def _render_codectx(result: dict, verbose: bool) -> str:
    out = [f"{result['path']}: {result['summary']}"]
    if result["imports"]:
        out += ["imports:"] + [f"  {i}" for i in result["imports"][:30]]
    if result["definitions"]:
        out.append("definitions:")
        for d in result["definitions"]:
            doc = f"  # {d['doc']}" if d["doc"] else ""
            out.append(f"{'  ' * (1 + d['name'].count('.'))}{d['start']}-{d['end']} {d['signature'] or d['name']}{doc}")
    if result["used_by"]:
        out.append("used by:")
        out += [f"  {p}: {', '.join(names)}" for p, names in sorted(result["used_by"].items())]
    return "\n".join(out)


RENDERERS = {
    "index": _render_index, "emb-index": _render_index, "grep": _render_grep, "esearch": _render_hits,
    "vretr": _render_hits, "codectx": _render_codectx, "map": lambda result, verbose: "\n".join(
        f"{f['path']}:\n" + "\n".join(f"  {d['line']:>4} {d['signature']}" for d in f["definitions"])
        for f in result["files"]) or "(no definitions)",
    "tree": lambda result, verbose: "\n".join(_tree_lines(result["files"], result["depth"])) or "(no files)",
}


def render(result: dict, verbose: bool = False) -> str:
    """The text form of a command's result."""
    return RENDERERS[result["command"]](result, verbose)
