"""``locoder ctx``: the key events of a workspace's logs, with the noise taken out.

Reads log files (plain text or JSON lines, any of the common timestamp styles), finds errors, warnings,
exceptions and failed tests, groups repeated lines by a normalised form (numbers, ids, hex, timestamps,
paths and quoted values replaced), and collapses stack traces (``traces.py``). The digest says how many
times each event happened, and where and when it happened first and last.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from locoder.logs.traces import Trace, find_trace

LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".jsonl", ".json")
TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO 8601
    r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"  # Apache/nginx
    r"|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"  # syslog
    r"|\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)")  # a bare time
LEVEL = re.compile(r"(?<![\w-])(FATAL|CRITICAL|ERROR|ERR|SEVERE|PANIC|WARNING|WARN|E|W)(?![\w-])")
LEVEL_WORDS = re.compile(r"\b(fatal|critical|error|errors|failed|failure|exception|panic|warning|deprecated)\b", re.I)
ERROR_LEVELS = {"FATAL": "error", "CRITICAL": "error", "ERROR": "error", "ERR": "error", "SEVERE": "error",
                "PANIC": "error", "WARNING": "warning", "WARN": "warning"}
PYTEST_FAILED = re.compile(r"^(FAILED|ERROR) (\S+::\S+|\S+\.py)(?: - (.*))?$")
PYTEST_SUMMARY = re.compile(r"^=+ (.*(?:failed|passed|error).*) in [\d.]+s.* =+$")
NOT_ERRORS = re.compile(r"\b(0 errors?|no errors?|errors?=0|without errors?|0 failed|failed=0)\b", re.I)

NORMALISE = [
    (TIMESTAMP, "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![\w.])(?:/[\w.@+-]+){2,}/?"), "<path>"),
    (re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)*"), "<n>"),
    (re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\""), "<str>"),
]


def normalise(message: str) -> str:
    """The shape of a message: what stays when the values that vary are replaced."""
    for pattern, token in NORMALISE:
        message = pattern.sub(token, message)
    return " ".join(message.split())


@dataclass
class Where:
    source: str
    line: int
    time: str = ""

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" + (f" ({self.time})" if self.time else "")


@dataclass
class Event:
    kind: str
    """``error``, ``warning``, ``exception`` or ``failed-test``."""
    text: str
    """The first occurrence, as written (the collapsed trace for exceptions)."""
    count: int
    first: Where
    last: Where
    detail: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "count": self.count, "first": str(self.first),
                "last": str(self.last), "detail": self.detail}


@dataclass
class Digest:
    sources: list[str] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    events: dict[tuple[str, str], Event] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)
    """pytest's final lines ("2 failed, 10 passed")."""

    def add(self, kind: str, key: str, text: str, where: Where, detail: list[str] | None = None) -> None:
        event = self.events.get((kind, key))
        if event is None:
            self.events[(kind, key)] = Event(kind, text, 1, where, where, detail or [])
        else:
            event.count += 1
            event.last = where

    def ordered(self) -> list[Event]:
        rank = {"exception": 0, "failed-test": 1, "error": 2, "warning": 3}
        return sorted(self.events.values(), key=lambda e: (rank[e.kind], -e.count, e.first.source, e.first.line))

    def as_dict(self) -> dict:
        return {"command": "ctx", "sources": self.sources, "lines": self.lines, "bytes": self.bytes,
                "formats": self.formats, "summaries": self.summaries,
                "events": [e.as_dict() for e in self.ordered()]}


def _json_fields(line: str) -> tuple[str, str, str] | None:
    """(level, message, time) of a JSON log line, or None when the line is not JSON."""
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None

    def pick(*names: str) -> str:
        for name in names:
            value = data.get(name)
            if isinstance(value, (str, int, float)) and str(value):
                return str(value)
            if isinstance(value, dict):
                for inner in ("name", "message", "msg"):
                    if isinstance(value.get(inner), str):
                        return value[inner]
        return ""

    message = pick("message", "msg", "text", "event", "error", "err", "log")
    level = pick("level", "levelname", "severity", "lvl", "log.level", "loglevel").upper()
    when = pick("time", "timestamp", "ts", "@timestamp", "asctime", "datetime")
    trace = data.get("exc_info") or data.get("stack") or data.get("stack_trace") or data.get("traceback")
    if isinstance(trace, str) and trace:
        message = f"{message}\n{trace}" if message else trace
    return level, message, when


def classify(line: str) -> str | None:
    """``error``, ``warning`` or None for one plain-text line."""
    m = LEVEL.search(line[:200])
    if m and m.group(1) in ERROR_LEVELS:
        return ERROR_LEVELS[m.group(1)]
    if m and m.group(1) in ("E", "W") and re.match(r"^[EW]\d{4}|^\S*\s*[EW] ", line):
        return "error" if m.group(1) == "E" else "warning"
    words = LEVEL_WORDS.search(line)
    if words and not NOT_ERRORS.search(line):
        word = words.group(1).lower()
        return "warning" if word in ("warning", "deprecated") else "error"
    return None


def _strip_prefix(line: str) -> str:
    """The message of a log line: without its leading timestamp and level decoration."""
    line = TIMESTAMP.sub("", line, count=1) if TIMESTAMP.match(line.lstrip("[ ")) else line
    return line.strip(" []-|:")


def digest_lines(lines: list[str], source: str, digest: Digest, offset: int = 0) -> None:
    """Add the events of ``lines`` (of ``source``, whose first line is number ``offset + 1``)."""
    digest.lines += len(lines)
    json_lines = 0
    last_time = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        fields = _json_fields(line)
        if fields is not None:
            json_lines += 1
            level, message, when = fields
            last_time = when or last_time
            where = Where(source, offset + i + 1, when)
            body = message.splitlines()
            trace = _trace_in(body)
            if trace is not None:
                _add_trace(digest, trace, body, where)
            kind = ERROR_LEVELS.get(level) or (classify(message) if not level else None)
            if kind and body:
                digest.add(kind, normalise(body[0]), body[0][:500], where)
            i += 1
            continue
        stamp = TIMESTAMP.search(line[:40])
        if stamp:
            last_time = stamp.group(0)
        trace = find_trace(lines, i) if _may_start_trace(line) else None
        if trace is not None:
            _add_trace(digest, trace, lines, Where(source, offset + i + 1, last_time))
            i = max(trace.end, i + 1)
            continue
        m = PYTEST_FAILED.match(line.strip())
        if m:
            digest.add("failed-test", m.group(2), line.strip()[:500], Where(source, offset + i + 1, last_time))
        elif s := PYTEST_SUMMARY.match(line.strip()):
            digest.summaries.append(f"{s.group(1)} ({source}:{offset + i + 1})")
        else:
            kind = classify(line)
            if kind:
                message = _strip_prefix(line)[:500]
                digest.add(kind, normalise(message), message, Where(source, offset + i + 1, last_time))
        i += 1
    for name, n in (("text", len(lines) - json_lines), ("json", json_lines)):
        if n:
            digest.formats[name] = digest.formats.get(name, 0) + n


START_HINT = re.compile(r"Traceback|Exception|Error|panic|panicked|fatal error|Caused by|Throwable")


def _may_start_trace(line: str) -> bool:
    return bool(START_HINT.search(line[:300]))


def _trace_in(body: list[str]) -> Trace | None:
    for i, line in enumerate(body):
        if _may_start_trace(line):
            trace = find_trace(body, i)
            if trace is not None:
                return trace
    return None


def _add_trace(digest: Digest, trace: Trace, lines: list[str], where: Where) -> None:
    collapsed = trace.collapse()
    key = normalise(trace.headline) + "|" + "|".join(f.location for f in trace.frames if f.user)[:500]
    digest.add("exception", key, collapsed[0], where, collapsed[1:])


def iter_sources(paths: Iterable[str], root: Path) -> Iterator[tuple[str, Path | None]]:
    """(name, path) of each log to read: files as given, folders searched for log files, globs expanded;
    ``-`` is standard input (path None)."""
    for raw in paths:
        if raw == "-":
            yield "<stdin>", None
            continue
        path = (root / raw) if not os.path.isabs(raw) else Path(raw)
        if any(c in raw for c in "*?["):
            for match in sorted(glob.glob(str(path), recursive=True)):
                if os.path.isfile(match):
                    yield os.path.relpath(match, root), Path(match)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.endswith(LOG_SUFFIXES) or re.search(r"\.log\.\d+$", name):
                        full = Path(dirpath) / name
                        yield os.path.relpath(full, root), full
        elif path.is_file():
            yield os.path.relpath(path, root), path
        else:
            raise FileNotFoundError(f"no log at {raw}")


def build_digest(paths: Iterable[str], root: Path, since: str = "",
                 opener: Callable[[Path], BinaryIO | None] | None = None) -> Digest:
    """The digest of every log in ``paths``; ``since`` keeps lines from that time on (an ISO date or
    time prefix, compared as text with each line's timestamp). ``opener(path)``, when given, opens each log,
    None to pass it by (the ``context`` tool passes its confinement: no links out, no secrets, no pipes)."""
    digest = Digest()
    for name, path in iter_sources(paths, root):
        if path is None:
            data = sys.stdin.buffer.read()
        else:
            handle = open(path, "rb") if opener is None else opener(path)  # noqa: SIM115 (closed below)
            if handle is None:
                continue
            with handle:
                data = handle.read()
        digest.sources.append(name)
        digest.bytes += len(data)
        lines = data.decode("utf-8", "replace").splitlines()
        offset = _since(lines, since) if since else 0
        digest_lines(lines[offset:], name, digest, offset)
    return digest


def _since(lines: list[str], since: str) -> int:
    """Index of the first line stamped at or after ``since`` (ISO text compares in time order)."""
    for i, line in enumerate(lines):
        stamp = TIMESTAMP.search(line[:60])
        if stamp and stamp.group(0).replace(" ", "T") >= since.replace(" ", "T"):
            return i
    return len(lines)


def render(digest: dict, max_tokens: int = 0) -> str:
    """The digest as text, cut to ``max_tokens`` (about 4 characters each; 0: no limit): warnings go
    first, then the rarest errors, never the count of what was left out."""
    head = (f"{len(digest['sources'])} log(s), {digest['lines']:,} lines, {digest['bytes'] / 1e6:.1f} MB"
            f" ({', '.join(f'{k}: {v:,}' for k, v in digest['formats'].items()) or 'empty'})")
    counts: dict[str, int] = {}
    for e in digest["events"]:
        counts[e["kind"]] = counts.get(e["kind"], 0) + e["count"]
    summary = ", ".join(f"{n:,} {k}{'s' if n != 1 else ''}" for k, n in counts.items()) or "no errors or warnings"
    blocks = []
    for e in digest["events"]:
        times = f"x{e['count']}" if e["count"] > 1 else ""
        where = f"first {e['first']}" + (f", last {e['last']}" if e["count"] > 1 else "")
        block = [f"[{e['kind']}] {times + ' ' if times else ''}{e['text']}", f"    {where}", *e["detail"]]
        blocks.append("\n".join(block))
    lines = [head, summary, *digest["summaries"]]
    budget = max_tokens * 4 if max_tokens else 0
    used = sum(len(x) + 1 for x in lines)
    shown = 0
    for block in blocks:
        if budget and used + len(block) + 1 > budget - 80:
            # Too big whole: its first two lines (what and where) may still fit.
            block = "\n".join(block.split("\n")[:2])
            if used + len(block) + 1 > budget - 80:
                break
        lines.append(block)
        used += len(block) + 1
        shown += 1
    if shown < len(blocks):
        lines.append(f"... {len(blocks) - shown} more distinct events not shown (raise the token budget, or --json)")
    return "\n".join(lines)
