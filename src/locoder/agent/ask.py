"""Questions about the code, answered from retrieved code rather than the model's memory.

The harness finds the evidence (the files and definitions the question names, else the best search hits),
shows the model the whole definitions with their line numbers, and asks for an answer that cites
``file:line``. Listing questions ("which functions are in x.py?") are answered from the code index alone.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from locoder.agent.loop import Agent, RunResult
from locoder.events import ModelTurn, Step, TaskFinished, TaskStarted, Thinking, Warned
from locoder.exceptions import LocoderError
from locoder.index.store import CodeIndex
from locoder.locations import StatePaths
from locoder.messages import Message, Usage
from locoder.repair.localise import named_in

LISTING = re.compile(r"\b(which|what|list|name|all|how many)\b\s+(?:\w+\s+){0,3}?(functions|classes|methods|definitions)\b",
                     re.I)
PATHLIKE = re.compile(r"[\w./-]+\.[A-Za-z0-9]{1,5}\b")
KINDS = {"function": "function", "method": "method", "class": "class", "interface": "interface", "type": "type",
         "impl": "impl"}
ANSWER_SYSTEM = (
    "You answer questions about a code repository from the code shown to you. Base every statement on that "
    "code, cite it as file:line (for example calc.py:12), and quote the lines that matter. If the code shown "
    "does not answer the question, say what is missing. Be concise.")
MAX_EVIDENCE_CHARS = 9000


@dataclass
class Piece:
    path: str
    start: int
    end: int
    name: str
    text: str

    def cite(self) -> str:
        return f"{self.path}:{self.start}-{self.end} {self.name}".strip()

    def numbered(self) -> str:
        body = "\n".join(f"{n:>5}  {line}" for n, line in enumerate(self.text.splitlines(), self.start))
        return f"{self.path} lines {self.start}-{self.end}{' (' + self.name + ')' if self.name else ''}:\n{body}"


def mentioned_files(question: str, index: CodeIndex) -> list[str]:
    files = [r["path"] for r in index.files()]
    out = []
    for token in PATHLIKE.findall(question):
        token = token.strip("./") if not token.startswith("./") else token[2:]
        exact = [f for f in files if f == token]
        ends = [f for f in files if f.endswith("/" + token)]
        for f in exact or ends[:3]:
            if f not in out:
                out.append(f)
    return out


def definitions_of(index: CodeIndex, paths: list[str]) -> list[dict]:
    """One entry per definition of ``paths`` (a long definition is stored in parts)."""
    out, seen = [], set()
    for path in paths:
        for r in index.file_chunks(path):
            if r["kind"] not in KINDS or (path, r["qualname"]) in seen:
                continue
            seen.add((path, r["qualname"]))
            out.append({"path": path, "kind": r["kind"], "name": r["qualname"], "start": r["start"], "end": r["end"],
                        "signature": r["signature"], "doc": (r["doc"] or "").split("\n", 1)[0]})
    return out


def listing_answer(question: str, defs: list[dict]) -> str | None:
    """The answer to "which functions/classes are in FILE" from the index, or None when it is not that question."""
    match = LISTING.search(question)
    if not match or not defs:
        return None
    word = match.group(2).lower()
    wanted = {"class": ("class",), "classes": ("class",), "method": ("method",), "methods": ("method",)}.get(
        word, ("function", "method", "class") if word.startswith("def") else ("function", "method"))
    if word.startswith("function"):
        wanted = ("function",) if any(d["kind"] == "function" for d in defs) else ("function", "method")
    chosen = [d for d in defs if d["kind"] in wanted]
    if not chosen:
        return None
    by_file: dict[str, list[dict]] = {}
    for d in chosen:
        by_file.setdefault(d["path"], []).append(d)
    lines = []
    for path, items in by_file.items():
        noun = word.rstrip("s") if not word.startswith("class") else "class"
        plural = "es" if noun == "class" and len(items) != 1 else ("s" if len(items) != 1 else "")
        lines.append(f"{path} defines {len(items)} {noun}{plural}:")
        for d in items:
            doc = f": {d['doc']}" if d["doc"] else ""
            lines.append(f"- `{d['signature'] or d['name']}` ({path}:{d['start']}){doc}")
    return "\n".join(lines)


def _read(workspace: Path, path: str, start: int, end: int) -> str:
    from locoder.regular_files import read_regular
    from locoder.tools.paths import resolve_in_workspace

    target = resolve_in_workspace(workspace, path)
    lines = read_regular(target, 2_000_000).decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[start - 1:end])


def gather(question: str, index: CodeIndex, workspace: Path) -> list[Piece]:
    """Whole definitions the question names (in the files it names, if any), else the best search hits."""
    files = mentioned_files(question, index)
    names = named_in(question) | set(re.findall(r"\b[A-Za-z_]\w{2,}\b", question))
    defs = definitions_of(index, files) if files else []
    if not defs:
        rows = index.db.execute(
            f"SELECT path, kind, qualname, name, start, end FROM chunks WHERE name IN ({','.join('?' * len(names))})",
            sorted(names)).fetchall() if names else []
        defs = [{"path": r["path"], "kind": r["kind"], "name": r["qualname"], "start": r["start"], "end": r["end"]}
                for r in rows if r["kind"] in KINDS]
    named = [d for d in defs if d["name"].rsplit(".", 1)[-1] in names or d["name"] in names]
    chosen = named or (defs if files else [])
    pieces = [Piece(d["path"], d["start"], d["end"], d["name"], _read(workspace, d["path"], d["start"], d["end"]))
              for d in chosen[:6]]
    pieces += _callees(pieces, index, workspace)
    if not pieces:
        from locoder.index.search import SearchError, search

        try:
            hits = search(index, question, k=3, mode="lexical")
        except SearchError:
            hits = []
        pieces = [Piece(h.path, h.start, h.end, h.qualname, h.text) for h in hits]
    out, used = [], 0
    for piece in pieces:
        if used + len(piece.text) > MAX_EVIDENCE_CHARS and out:
            break
        out.append(piece)
        used += len(piece.text)
    return out


def _callees(pieces: list[Piece], index: CodeIndex, workspace: Path, limit: int = 3) -> list[Piece]:
    """Definitions of the same files that the chosen pieces call: what a function does is partly theirs."""
    have = {(p.path, p.name) for p in pieces}
    out: list[Piece] = []
    for piece in pieces:
        called = set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", piece.text))
        for d in definitions_of(index, [piece.path]):
            short = d["name"].rsplit(".", 1)[-1]
            if short in called and (d["path"], d["name"]) not in have and len(out) < limit:
                have.add((d["path"], d["name"]))
                out.append(Piece(d["path"], d["start"], d["end"], d["name"],
                                 _read(workspace, d["path"], d["start"], d["end"])))
    return out


class AskWorkflow:
    def __init__(self, agent: Agent, workspace: Path, state: StatePaths | None = None) -> None:
        self.agent, self.workspace, self.state = agent, workspace, state
        self.steps = 0

    def run(self, question: str) -> RunResult | None:
        """The answer, or None when nothing in the code index fits (the caller hands over to the loop)."""
        start, before = time.monotonic(), Usage(**asdict(self.agent.usage))
        index = CodeIndex(self.workspace, self.state)
        try:
            index.update()
            files = mentioned_files(question, index)
            listing = listing_answer(question, definitions_of(index, files)) if files else None
            pieces = [] if listing else gather(question, index, self.workspace)
        except (OSError, LocoderError, ValueError) as exc:
            self.agent.emit(Warned(f"code index unavailable ({exc}); the agent looks itself"))
            return None
        finally:
            index.close()
        if not listing and not pieces:
            return None
        self.agent.emit(TaskStarted(question, workflow="ask"))
        self.steps = 1
        self.agent.emit(Step(1, "retrieve", harness=True,
                             retrieved=[p.cite() for p in pieces] or [f"index of {', '.join(files)}"]))
        status, answer, stop = "submitted", listing or "", "answer"
        if not listing:
            try:
                answer = self._answer(question, pieces)
            except KeyboardInterrupt:
                status, answer, stop = "cancelled", "cancelled by the user", "cancelled"
            except LocoderError as exc:
                status, answer, stop = "error", str(exc), "error"
        used = Usage(**asdict(self.agent.usage))
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            setattr(used, name, getattr(used, name) - getattr(before, name))
        result = RunResult(status, answer, self.steps, used, time.monotonic() - start, stop)
        self.agent.messages += [Message("user", question), Message("assistant", answer)]
        self.agent.emit(TaskFinished(result))
        return result

    def _answer(self, question: str, pieces: list[Piece]) -> str:
        evidence = "\n\n".join(p.numbered() for p in pieces)
        messages = [Message("system", ANSWER_SYSTEM),
                    Message("user", f"The code:\n\n{evidence}\n\nQuestion: {question}\n\n"
                                    "Answer from this code in a few sentences. Quote the code that matters in backticks "
                                    "and cite its lines, like `return a + b` (calc.py:12).")]
        self.steps += 1
        self.agent.emit(Thinking(self.steps))
        response = self.agent.model.query(messages)
        self.agent.usage.add(response.usage)
        self.agent.emit(Step(self.steps, "answer", harness=True,
                             turn=ModelTurn(response, sum(len(m.content) for m in messages))))
        answer = response.content.strip()
        if not answer:
            raise LocoderError("the model gave an empty answer")
        # The answer rests on these lines whether or not the model cited them.
        return f"{answer}\n\nSources: " + "; ".join(p.cite() for p in pieces)

