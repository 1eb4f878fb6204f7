"""The code index on a real code base: the Python standard library on disk.

Run: .venv/bin/python bench/bench_index.py [--files N] [--queries N] [--json]

1. Build: files/s and chunks/s for the lexical index (cold, then after one file changed) and for the
   embeddings (cold, then after the same change).
2. Query latency, p50/p95 over the queries: grep (ripgrep or Python), BM25, vector, hybrid.
3. Retrieval quality: for documented public functions and methods, the first sentence of the docstring is
   the query, and docstrings are removed from the indexed copy first; recall@1/5/10 and MRR per mode.

The copy lives in a temporary folder; ``--files`` takes that many modules (sorted by path, packages whole)
to keep the embedding step to minutes on a laptop CPU.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from locoder.index.commands import embedder as load_embedder
from locoder.index.search import build_vectors, grep, lexical_ranking, search, vector_ranking
from locoder.index.store import CodeIndex

SKIP = {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__", "tkinter", "turtledemo", "ensurepip"}


def strip_docstrings(source: str) -> tuple[str, list[tuple[str, str]]]:
    """The source with every docstring blanked (line numbers kept), and (qualname, first sentence) of the
    public documented functions and methods."""
    tree = ast.parse(source)
    lines = source.splitlines()
    documented: list[tuple[str, str]] = []

    def visit(node, prefix: str, public: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                is_public = public and not child.name.startswith("_")
                doc = ast.get_docstring(child)
                body0 = child.body[0] if child.body else None
                if doc and isinstance(body0, ast.Expr):
                    if is_public and not isinstance(child, ast.ClassDef):
                        sentence = re.split(r"(?<=\.)\s|\n\s*\n", doc.strip(), maxsplit=1)[0].replace("\n", " ")
                        if len(sentence.split()) >= 4:
                            documented.append((name, sentence))
                    first, last = body0.lineno - 1, body0.end_lineno - 1
                    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
                    for i in range(first, last + 1):
                        lines[i] = ""
                    lines[first] = f"{indent}pass" if len(child.body) == 1 else ""
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{name}.", is_public)

    visit(tree, "", True)
    return "\n".join(lines) + "\n", documented


def corpus(out: Path, files: int) -> list[tuple[str, str, str]]:
    """Copy ``files`` stdlib modules into ``out`` without docstrings; returns (path, qualname, query)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    modules = sorted(p for p in root.rglob("*.py") if not (set(p.relative_to(root).parts[:-1]) & SKIP)
                     and not p.name.startswith("_") and "config-" not in str(p))
    queries = []
    for path in modules[:files]:
        rel = str(path.relative_to(root))
        try:
            source, documented = strip_docstrings(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
        queries += [(rel, name, q) for name, q in documented]
    return queries


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    queries = corpus(work, args.files)
    random.Random(7).shuffle(queries)
    queries = queries[: args.queries]
    figures: dict[str, object] = {"files_copied": args.files, "queries": len(queries)}

    index = CodeIndex(work)
    stats, seconds = timed(index.update)
    figures["lexical_cold"] = {"files": stats.files, "chunks": stats.chunks, "seconds": round(seconds, 2),
                               "files_per_s": round(stats.files / seconds, 1), "chunks_per_s": round(stats.chunks / seconds, 1)}
    _, seconds = timed(lambda: index.lexical())
    figures["bm25_build_seconds"] = round(seconds, 2)
    model = load_embedder()
    made, seconds = timed(lambda: build_vectors(index, model))
    figures["embeddings_cold"] = {"chunks": made, "seconds": round(seconds, 1), "chunks_per_s": round(made / seconds, 1)}

    changed = work / queries[0][0]
    changed.write_text(changed.read_text() + "\n\ndef added_for_the_benchmark(x):\n    return x\n")
    stats, seconds = timed(index.update)
    figures["lexical_one_file_changed"] = {"changed": len(stats.changed), "seconds": round(seconds, 3)}
    made, seconds = timed(lambda: build_vectors(index, model))
    figures["embeddings_one_file_changed"] = {"embedded": made, "seconds": round(seconds, 2)}
    index.lexical()

    latency: dict[str, list[float]] = {"grep": [], "bm25": [], "vector": [], "hybrid": []}
    ranks: dict[str, list[int | None]] = {"bm25": [], "vector": [], "hybrid": []}
    for rel, name, query in queries:
        word = re.escape(name.rsplit(".", 1)[-1])
        _, s = timed(lambda word=word: grep(rf"def {word}\b", work, work, limit=50))
        latency["grep"].append(s)
        for mode, key in (("lexical", "bm25"), ("vector", "vector"), ("hybrid", "hybrid")):
            hits, s = timed(lambda query=query, mode=mode: search(index, query, k=10, mode=mode, embedder=model))
            latency[key].append(s)
            rank = next((i for i, h in enumerate(hits, 1) if h.path == rel and h.qualname == name), None)
            ranks[key].append(rank)
    figures["latency_ms"] = {k: {"p50": round(pct(v, 0.5) * 1000, 2), "p95": round(pct(v, 0.95) * 1000, 2)}
                             for k, v in latency.items()}
    quality = {}
    for key, found in ranks.items():
        quality[key] = {f"recall@{k}": round(sum(1 for r in found if r and r <= k) / len(found), 3) for k in (1, 5, 10)}
        quality[key]["mrr"] = round(statistics.fmean(1 / r if r else 0 for r in found), 3)
    figures["quality"] = quality
    # Raw ranking cost without fetching rows: what the search itself takes.
    _, s = timed(lambda: [lexical_ranking(index, q, 50) for _, _, q in queries[:50]])
    figures["bm25_ranking_ms_mean"] = round(s / 50 * 1000, 2)
    _, s = timed(lambda: [vector_ranking(index, model, q, 50) for _, _, q in queries[:50]])
    figures["vector_ranking_ms_mean_incl_query_embedding"] = round(s / 50 * 1000, 2)
    index.close()
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print(f"corpus: {figures['lexical_cold']['files']} files of the standard library (docstrings removed), "
          f"{figures['lexical_cold']['chunks']} chunks; {len(queries)} docstring queries")
    lc, ec = figures["lexical_cold"], figures["embeddings_cold"]
    print(f"lexical index, cold: {lc['seconds']} s ({lc['files_per_s']} files/s, {lc['chunks_per_s']} chunks/s); "
          f"BM25 build {figures['bm25_build_seconds']} s")
    print(f"one file changed:    {figures['lexical_one_file_changed']['seconds']} s")
    print(f"embeddings, cold:    {ec['seconds']} s ({ec['chunks_per_s']} chunks/s)")
    print(f"one file changed:    {figures['embeddings_one_file_changed']['seconds']} s "
          f"({figures['embeddings_one_file_changed']['embedded']} chunks embedded)")
    print(f"{'query latency':<14} {'p50 ms':>8} {'p95 ms':>8}")
    for k, v in figures["latency_ms"].items():
        print(f"{k:<14} {v['p50']:>8} {v['p95']:>8}")
    print(f"{'retrieval':<14} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6}")
    for k, v in quality.items():
        print(f"{k:<14} {v['recall@1']:>6} {v['recall@5']:>6} {v['recall@10']:>6} {v['mrr']:>6}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
