"""Where the fault probably is, without asking the model: candidate functions ranked from the evidence.

Signals, each scaled to [0, 1] and weighted (``WEIGHTS``):

- ``spectrum``: Ochiai over which functions the failing and the passing tests ran (``trace_plugin``);
- ``traceback``: frames of the failures inside the project's own code, the innermost first;
- ``called``: functions the failing tests call (from their source and pytest's ``where x = f(...)`` lines);
- ``named``: names the task text mentions;
- ``words``: BM25 of the task text and the error lines against each function's text.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from locoder.repair.failures import Failure, is_test_path

WEIGHTS = {"spectrum": 4.0, "traceback": 3.0, "named": 2.0, "called": 1.5, "words": 1.0}
CODE_NAME = re.compile(r"`([^`\n]+)`|\b([A-Za-z_]\w*(?:\.\w+)*)\s*\(|\b([a-z]+_\w+|[a-z]+[A-Z]\w*)\b")


@dataclass
class Definition:
    """A function or method of the project, with the lines it spans (decorators included)."""

    path: str
    name: str
    qualname: str
    start: int
    end: int
    def_line: int
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.path}:{self.qualname}"

    def numbered(self) -> str:
        return "\n".join(f"{n:>5}  {line}" for n, line in enumerate(self.source.splitlines(), self.start))


@dataclass
class Candidate:
    definition: Definition
    score: float
    reasons: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        d = self.definition
        why = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.reasons.items(), key=lambda kv: -kv[1]))
        return f"{d.path}:{d.start}-{d.end} {d.qualname} (score {self.score:.2f}: {why})"


def definitions(path: str, source: str) -> list[Definition]:
    """Every function and method in a Python file; nested functions belong to their enclosing one."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    out: list[Definition] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                end = child.end_lineno or child.lineno
                out.append(Definition(path, child.name, prefix + child.name, start, end, child.lineno,
                                      "\n".join(lines[start - 1:end])))
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.If, ast.Try, ast.With)):
                visit(child, prefix)

    visit(tree, "")
    return out


def project_definitions(root: Path, files: list[str]) -> list[Definition]:
    """The definitions of the project's own code (test files left out)."""
    out: list[Definition] = []
    for rel in files:
        if not rel.endswith(".py") or is_test_path(rel):
            continue
        try:
            source = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out += definitions(rel, source)
    return out


def ochiai(counts: dict[str, list[int]], totals: list[int], defs: list[Definition]) -> dict[str, float]:
    """Suspiciousness per definition: failing runs through it / sqrt(all failing * all runs through it)."""
    failed_total = totals[1] if len(totals) > 1 else 0
    by_place = {(d.path, line): d for d in defs for line in (d.start, d.def_line)}
    out: dict[str, float] = {}
    for key, (passed, failed) in counts.items():
        path, _, rest = key.partition(":")
        line, _, _name = rest.partition(":")
        d = by_place.get((path, int(line) if line.isdigit() else -1))
        if d is None or failed == 0 or failed_total == 0:
            continue
        out[d.key] = max(out.get(d.key, 0.0), failed / math.sqrt(failed_total * (failed + passed)))
    return out


def _containing(defs: list[Definition], path: str, line: int) -> Definition | None:
    inside = [d for d in defs if d.path == path and d.start <= line <= d.end]
    return min(inside, key=lambda d: d.end - d.start) if inside else None


def traceback_scores(failures: list[Failure], defs: list[Definition], root: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if not failures:
        return out
    for failure in failures:
        own = [f for f in failure.frames if not is_test_path(_relative(f.path, root))]
        for depth, frame in enumerate(reversed(own)):
            d = _containing(defs, _relative(frame.path, root), frame.line)
            if d is not None:
                out[d.key] = out.get(d.key, 0.0) + 0.5 ** depth / len(failures)
    return out


def _relative(path: str, root: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            return path
    return path


def test_calls(failure: Failure, root: Path) -> set[str]:
    """Names the failing test calls: in its own source, and in pytest's assertion explanation."""
    names = set(failure.called_names())
    parts = failure.nodeid.split("::")
    if len(parts) < 2:
        return names
    try:
        tree = ast.parse((root / parts[0]).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return names
    wanted = re.sub(r"\[.*$", "", parts[-1])
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == wanted:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    func = call.func
                    names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    names.discard("")
    return names


def named_in(text: str) -> set[str]:
    """Code-like names in a task text: in backticks, called, snake_case or camelCase."""
    out: set[str] = set()
    for m in CODE_NAME.finditer(text):
        chunk = m.group(1) or m.group(2) or m.group(3) or ""
        out.update(w.rsplit(".", 1)[-1] for w in re.findall(r"[A-Za-z_][\w.]*", chunk))
    return out


def _word_scores(query: str, defs: list[Definition]) -> dict[str, float]:
    from locoder.index.lexical import BM25, tokenize

    if not defs or not query.strip():
        return {}
    bm25 = BM25.build([tokenize(f"{d.qualname} {d.source}") for d in defs])
    hits = bm25.search(query, k=20)
    best = hits[0][1] if hits else 0.0
    return {defs[i].key: score / best for i, score in hits} if best > 0 else {}


def rank(defs: list[Definition], failures: list[Failure], root: Path, task: str = "",
         spectrum: dict[str, float] | None = None, k: int = 5) -> list[Candidate]:
    """The ``k`` most suspicious definitions, best first."""
    signals: dict[str, dict[str, float]] = {
        "spectrum": spectrum or {},
        "traceback": traceback_scores(failures, defs, root),
        "words": _word_scores(" ".join([task, *(line for f in failures for line in f.error_lines[:3])]), defs),
    }
    named = named_in(task)
    signals["named"] = {d.key: 1.0 for d in defs if d.name in named or d.qualname in named}
    called: dict[str, float] = {}
    for failure in failures:
        names = test_calls(failure, root)
        for d in defs:
            if d.name in names:
                called[d.key] = called.get(d.key, 0.0) + 1.0 / len(failures)
    signals["called"] = called
    by_key = {d.key: d for d in defs}
    totals: dict[str, Candidate] = {}
    for signal, scores in signals.items():
        for key, value in scores.items():
            if key not in by_key or value <= 0:
                continue
            c = totals.setdefault(key, Candidate(by_key[key], 0.0))
            c.reasons[signal] = round(min(value, 1.0), 3)
            c.score += WEIGHTS[signal] * min(value, 1.0)
    ranked = sorted(totals.values(), key=lambda c: (-c.score, c.definition.end - c.definition.start))
    return ranked[:k]
