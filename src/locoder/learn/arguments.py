"""Reasonable arguments for a suggested tool, taken from the request, by the kind of its subject argument (the
tool says which argument that is): a pattern to grep for, a query for the search tools, the file for the file
tools. Pure functions of the text (and of which files exist)."""

from __future__ import annotations

import re
from collections.abc import Callable

QUOTED = re.compile(r"[`'\"]([^`'\"\n]{2,80})[`'\"]")
EXTENSIONS = ("py|pyi|js|mjs|cjs|jsx|ts|tsx|go|rs|java|kt|c|h|cc|cpp|hpp|cs|rb|php|swift|scala|sh|md|rst|txt|toml|"
              "yaml|yml|json|jsonl|cfg|ini|log|html|css|sql|xml|csv|lock|gradle|proto")
PATH = re.compile(rf"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:{EXTENSIONS}))(?::\d+)?(?![\w/])")
IDENT = re.compile(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\b")
STOP = frozenset(["a", "an", "the", "and", "or", "but", "if", "then", "else", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into", "onto", "about", "as", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "done", "have", "has", "had", "it", "its", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "i", "me", "my", "we", "our", "you", "your", "he", "she", "they", "them", "their", "please", "pls", "let", "lets", "find", "show", "tell", "explain", "look", "see", "check", "add", "make", "change", "fix", "update", "use", "using", "used", "want", "need", "get", "give", "some", "any", "all", "each", "every", "one", "two", "not", "no", "yes", "just", "also", "still", "so", "very", "more", "most", "much", "many", "code", "file", "files", "function", "functions", "class", "method", "module", "modules", "where's", "what's", "how's", "does", "it's", "handle", "handles", "handled", "call", "calls", "called", "define", "defines", "defined", "work", "works", "happen", "happens", "implement", "implements", "implemented"])


def _identifiers(text: str) -> list[str]:
    """Names that look like code: snake_case, camelCase, CamelCase, dotted, or with digits."""
    out = []
    for name in IDENT.findall(text):
        if name.lower() in STOP:
            continue
        if "_" in name or "." in name or re.search(r"[a-z][A-Z]|[A-Z][a-z]+[A-Z]", name) or re.search(r"\d", name):
            out.append(name)
    return out


def grep_pattern(task: str) -> str:
    """The likeliest literal to search for: a quoted string, else a code-like name, else the rarest word."""
    for quoted in QUOTED.findall(task):
        if not PATH.fullmatch(quoted.strip()):
            return re.escape(quoted.strip())
    names = [n for n in _identifiers(task) if not PATH.fullmatch(n)]
    if names:
        return re.escape(max(names, key=len))
    words = [w for w in re.findall(r"[A-Za-z_]{4,}", task) if w.lower() not in STOP]
    return re.escape(max(words, key=len)) if words else ""


def search_query(task: str, max_words: int = 12) -> str:
    """The request without filler words, for the search tools."""
    words = [w for w in re.findall(r"[\w./-]+", task) if w.lower() not in STOP]
    return " ".join(words[:max_words]) or task.strip()[:100]


def mentioned_path(task: str, exists: Callable[[str], bool]) -> str:
    """The first file named in the request that exists in the workspace."""
    for candidate in [q.strip() for q in QUOTED.findall(task)] + PATH.findall(task):
        candidate = candidate.split(":")[0].removeprefix("./")
        if candidate and exists(candidate):
            return candidate
    return ""


RECORDS = (".log", ".txt", ".jsonl")
"""Files a path that defaults to a folder of records (``context``'s ``logs``) may name instead."""


def fill_arguments(subject: str, task: str, exists: Callable[[str], bool] = lambda path: False,
                   default: object = None) -> dict:
    """Arguments for a tool whose subject argument is ``subject`` (``default``: that argument's default; None
    when it is required), drawn from the request; empty when there is nothing sensible to fill."""
    if subject == "pattern":
        pattern = grep_pattern(task)
        return {"pattern": pattern} if pattern else {}
    if subject == "query":
        return {"query": search_query(task)}
    if subject in ("question", "task"):
        return {subject: task.strip()[:300]}
    if subject != "path":
        return {}
    if default == ".":
        return {"path": "."}  # a folder tool starts from the top
    path = mentioned_path(task, exists)
    if default is None:
        return {"path": path} if path else {}
    return {"path": path} if path.endswith(RECORDS) else {}
