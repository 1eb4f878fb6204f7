"""The vector memory: add and search latency at 1k and 100k entries, and the prompt tokens recall adds.

Run: .venv/bin/python bench/bench_memory.py [--sizes 1000,100000] [--json]

For each size, a store is filled in a temporary folder: the first 1000 entries are real texts (first
sentences of the standard library's docstrings) embedded with all-MiniLM-L6-v2; beyond that, random unit
vectors fill it in bulk (embedding 100k texts would take an hour on a laptop CPU and does not change what
is timed). Then, at that size: ``add`` of a new note (embedding, transaction, notes file), ``search`` from
a fresh process's first query (loading every vector) and from later queries (vectors cached), each
including the query's embedding. Last: over 50 tasks made from other docstrings, the tokens (chars / 4)
that automatic recall adds to a task's message at the default settings.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from locoder.index.embed import MiniLMEmbedder
from locoder.locations import StatePaths
from locoder.memory.store import MemoryStore


def sentences(limit: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for path in sorted(root.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= 5:
                    first = " ".join(doc.strip().split("\n\n")[0].split())
                    if first not in out:
                        out.append(first[:300])
                        if len(out) >= limit:
                            return out
    return out


def ms(fn, runs: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1 if len(times) >= 20 else -1]


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    texts = sentences(1100)
    real, tasks = texts[:1000], texts[1000:1050]
    start = time.perf_counter()
    real_vectors = embedder.embed(real)
    figures: dict = {"embed_1000_texts_s": round(time.perf_counter() - start, 1), "sizes": {}}
    rng = np.random.default_rng(7)
    for size in [int(s) for s in args.sizes.split(",")]:
        state = Path(tempfile.mkdtemp(prefix="bench-memory-")) / ".locoder"
        store = MemoryStore(StatePaths.at(state), embedder)
        n = min(size, len(real))
        store.add_many([(t, "answer", "bench") for t in real[:n]], real_vectors[:n])
        filled = n
        while filled < size:
            batch = min(10_000, size - filled)
            vectors = rng.standard_normal((batch, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.add_many([(f"synthetic memory {filled + i}", "user", "bench") for i in range(batch)], vectors)
            filled += batch
        store.close()
        fresh = MemoryStore(StatePaths.at(state), embedder)
        start = time.perf_counter()
        fresh.search("how do I parse a date string", k=3)
        first = (time.perf_counter() - start) * 1000
        counter = iter(range(10**6))
        add = ms(lambda store=fresh, n=counter: store.add(f"a new note to remember, number {next(n)}", "note"), runs=20)
        search = ms(lambda store=fresh: store.search("how do I parse a date string", k=3))
        figures["sizes"][size] = {"add_ms_p50": round(add[0], 1), "add_ms_p95": round(add[1], 1),
                                  "first_search_ms": round(first, 1), "search_ms_p50": round(search[0], 1),
                                  "search_ms_p95": round(search[1], 1), "db_mb": round((state / "memory" / "memory.db").stat().st_size / 1e6, 1)}
        if size == 1000:
            from locoder.agent.knowledge import TaskContext
            from locoder.config import Settings
            from locoder.knowledge import Knowledge

            settings = Settings(workspace=str(state.parent))
            knowledge = Knowledge(settings)
            knowledge._store, knowledge._embedder = fresh, embedder
            context = TaskContext(settings, knowledge, lambda event: None)
            added = [len(context.memories(task)) / 4 for task in tasks]
            figures["recall_tokens_per_task"] = {"mean": round(statistics.fmean(added), 1), "max": max(added),
                                                 "tasks_with_recall": sum(1 for a in added if a),
                                                 "tasks": len(added), "budget": settings.memory_tokens}
        fresh.close()
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print(f"embedding 1000 texts: {figures['embed_1000_texts_s']} s")
    print(f"{'entries':>8} {'add p50':>8} {'add p95':>8} {'1st search':>10} {'search p50':>10} {'search p95':>10} {'db MB':>6}")
    for size, f in figures["sizes"].items():
        print(f"{size:>8} {f['add_ms_p50']:>8} {f['add_ms_p95']:>8} {f['first_search_ms']:>10} {f['search_ms_p50']:>10} "
              f"{f['search_ms_p95']:>10} {f['db_mb']:>6}")
    if "recall_tokens_per_task" in figures:
        r = figures["recall_tokens_per_task"]
        print(f"recall adds {r['mean']} tokens per task on average (max {r['max']}, budget {r['budget']}); "
              f"{r['tasks_with_recall']} of {r['tasks']} tasks got memories")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
