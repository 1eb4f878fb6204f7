"""The repo map: a compact outline of the files and definitions that matter most for a task, sized to a
token budget, for the model's prompt.

Files are ranked by PageRank over references: file A points to file B when A uses a name B defines
(weighted by how often, and less for names defined in many places). The walk restarts at the files the
task mentions (by path or by the names they define), so the map leans towards the task. Each file's rank
then flows to the definitions that earned it, and the best definitions are listed under their files.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from locoder.index.store import CodeIndex
from locoder.locations import StatePaths

DEFINITION_KINDS = ("function", "method", "class", "interface", "type", "impl")
GENERIC = 5
"""A name defined in more files than this says little about which one is meant."""


@dataclass
class MapEntry:
    path: str
    rank: float
    definitions: list[tuple[int, str]]
    """(line, signature), in line order."""


def _distinctive(name: str) -> float:
    """How much a use of ``name`` says: long compound names (``write_atomic``, ``parseConfig``) a lot,
    private ones little, short common words (``push``, ``first``) some."""
    if name.startswith("_"):
        return 0.1
    compound = "_" in name.strip("_") or (any(c.isupper() for c in name[1:]) and any(c.islower() for c in name))
    return 10.0 if compound and len(name) >= 8 else 1.0


def _mentions(task: str, paths: list[str], defined: dict[str, set[str]]) -> dict[str, float]:
    """Restart weights: files named in the task, and files defining identifiers the task names."""
    weights: dict[str, float] = {}
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", task))
    lowered = task.lower()
    lowered_words = {w.lower() for w in words}
    for path in paths:
        base = path.rsplit("/", 1)[-1].lower()
        stem = base.rsplit(".", 1)[0]
        if path.lower() in lowered or (len(base) > 3 and base in lowered) or (len(stem) > 3 and stem in lowered_words):
            weights[path] = weights.get(path, 0.0) + 10.0
        folders = path.lower().split("/")[:-1]
        if any(len(f) > 3 and f in lowered_words for f in folders):
            weights[path] = weights.get(path, 0.0) + 3.0
    for word in words:
        owners = defined.get(word, set())
        if 0 < len(owners) <= GENERIC:
            for path in owners:
                weights[path] = weights.get(path, 0.0) + 3.0 / len(owners)
    return weights


def rank_files(index: CodeIndex, task: str = "") -> tuple[list[tuple[str, float]], dict, dict]:
    """Files by rank, best first; plus the definitions per file and the rank each definition earned."""
    rows = index.db.execute(
        f"SELECT path, name, qualname, signature, start FROM chunks WHERE kind IN ({','.join('?' * len(DEFINITION_KINDS))})",
        DEFINITION_KINDS).fetchall()
    defined: dict[str, set[str]] = defaultdict(set)
    definitions: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for r in rows:
        if r["name"]:
            defined[r["name"]].add(r["path"])
            definitions[r["path"]].setdefault(r["qualname"], (r["start"], r["signature"] or r["qualname"]))
    idents = index.file_identifiers()
    paths = sorted(idents)
    edges: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for src, used in idents.items():
        for name, count in used.items():
            owners = defined.get(name)
            if not owners or len(owners) > GENERIC:
                continue
            weight = math.sqrt(count) * _distinctive(name) / len(owners)
            for dst in owners:
                if dst != src:
                    edges[src].append((dst, name, weight))
    restart = _mentions(task, paths, defined) if task else {}
    total = sum(restart.values())
    personal = {p: w / total for p, w in restart.items()} if total else {p: 1 / len(paths) for p in paths}
    rank = {p: 1 / len(paths) for p in paths} if paths else {}
    out_weight = {src: sum(w for _, _, w in es) for src, es in edges.items()}
    damping = 0.85
    for _ in range(30):
        nxt = {p: (1 - damping) * personal.get(p, 0.0) for p in paths}
        dangling = sum(rank[p] for p in paths if not out_weight.get(p))
        for p in paths:
            nxt[p] += damping * dangling * personal.get(p, 0.0)
        for src, es in edges.items():
            share = damping * rank[src] / out_weight[src]
            for dst, _, w in es:
                nxt[dst] += share * w
        rank = nxt
    earned: dict[tuple[str, str], float] = defaultdict(float)
    for src, es in edges.items():
        for dst, name, w in es:
            earned[(dst, name)] += rank[src] * w / out_weight[src]
    files = sorted(rank.items(), key=lambda item: (-item[1], item[0]))
    return files, definitions, earned


def repo_map(index: CodeIndex, task: str = "", max_tokens: int = 1024) -> list[MapEntry]:
    """The map as entries, best file first, within ``max_tokens`` (about 4 characters a token)."""
    files, definitions, earned = rank_files(index, task)
    budget = max_tokens * 4
    entries: list[MapEntry] = []
    for path, score in files:
        defs = definitions.get(path, {})
        if not defs:
            continue
        cost = len(path) + 2
        if cost > budget:
            break
        # The definitions others use most come first; then the rest in line order, while room remains.
        ordered = sorted(defs.items(), key=lambda kv: (kv[0].rsplit(".", 1)[-1].startswith("_"),
                                                       -earned.get((path, kv[0].rsplit(".", 1)[-1]), 0.0), kv[1][0]))
        chosen = []
        for _, (line, signature) in ordered[:12]:
            line_cost = len(signature) + 10
            if cost + line_cost > budget:
                break
            cost += line_cost
            chosen.append((line, signature))
        if not chosen:
            break
        budget -= cost
        entries.append(MapEntry(path, score, sorted(chosen)))
    return entries


def render_map(entries: list[MapEntry]) -> str:
    lines = []
    for e in entries:
        lines.append(f"{e.path}:")
        lines += [f"  {line:>4} {signature}" for line, signature in e.definitions]
    return "\n".join(lines)


MAP_HEADER = ("Repository map, for reference (these are the project's files and definitions, not tools you "
              "can call; line numbers on the left):")


def map_text(index: CodeIndex, task: str, max_tokens: int) -> str:
    """The map as text for a task's message ("" when the workspace has no definitions)."""
    entries = repo_map(index, task, max_tokens)
    return f"{MAP_HEADER}\n{render_map(entries)}" if entries else ""


def map_for_task(workspace, task: str, max_tokens: int, state: StatePaths | None = None) -> str:
    """``map_text`` of the workspace's index, brought up to date first."""
    index = CodeIndex(workspace, state)
    try:
        index.update()
        return map_text(index, task, max_tokens)
    finally:
        index.close()
