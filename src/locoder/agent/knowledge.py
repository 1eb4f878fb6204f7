"""What the agent knows beyond the conversation: its memory, the project's docs, context7, the repo map.

``TaskContext`` builds the extra context sent with each task, every part within its own token share.
``MemoryRecorder`` is the event sink that remembers each task and each final answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from locoder.config import Settings
from locoder.events import Event, Progress, TaskFinished, TaskStarted, Warned
from locoder.exceptions import LocoderError
from locoder.knowledge import Knowledge

CHARS_PER_TOKEN = 4
KIND_MARGIN = {"user": 0.4, "answer": 0.15}
"""How much closer than ``memory_min_score`` an earlier request (or answer) must be to come with a new task:
one from the same project scores 0.55-0.72 against an unrelated new request with all-MiniLM-L6-v2, and the
model took it up as the task; a note the user saved on purpose needs only the plain bar."""
FAILURES = (OSError, sqlite3.Error, ValueError, LocoderError)
"""What a knowledge source may fail with; the task goes on without that source."""


def _fit(header: str, items: list[str], chars: int) -> str:
    """``header`` and as many ``items`` as fit in ``chars`` (the header counted); "" when none fits."""
    out, used = [], len(header) + 1
    for item in items:
        if used + len(item) + 1 > chars:
            break
        out.append(item)
        used += len(item) + 1
    return "\n".join([header, *out]) if out else ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


class TaskContext:
    """The text sent after a task: recalled memories, documentation passages (or context7's, when the
    local sources have nothing), and the repo map. Each part stays within its share
    (``memory_tokens``, ``docs_tokens``, ``repo_map_tokens``); a failing source is skipped with a warning."""

    def __init__(self, settings: Settings, knowledge: Knowledge, emit: Callable[[Event], None],
                 known: list[str] = ()) -> None:
        self.settings, self.knowledge, self.emit = settings, knowledge, emit
        self.known = {" ".join(k.split()).lower() for k in known}
        """Texts the prompt already holds (the notes in the system prompt): never sent twice."""

    def _progress(self, label: str):
        """A ``progress(done, total)`` that shows a bar in the console (a transient event)."""
        return lambda done, total: self.emit(Progress(label, done, total))

    def _warn(self, what: str, exc: BaseException) -> None:
        self.emit(Warned(f"no {what}: {exc}"))

    def memories(self, task: str) -> str:
        s = self.settings
        if not s.memory or s.memory_tokens <= 0:
            return ""
        try:
            found = self.knowledge.store.search(task, k=8, min_score=s.memory_min_score)
        except FAILURES as exc:
            self._warn("recalled memories", exc)
            return ""
        lines, seen = [], set(self.known) | {" ".join(task.split()).lower()}
        for m in found:
            # An earlier request is only context when it is nearly the same request: the model otherwise
            # takes it up as the task.
            if m.score < s.memory_min_score + KIND_MARGIN.get(m.kind, 0.0):
                continue
            flat = " ".join(m.text.split()).lower()
            if flat in seen or any(flat in other or other in flat for other in seen if len(other) > 20):
                continue
            seen.add(flat)
            lines.append(f"- [{m.kind}, {m.as_dict()['created'][:10]}] {_clip(m.text, 300)}")
        return _fit("Past context from earlier sessions, for reference only (the task above is the one to do):",
                    lines, s.memory_tokens * CHARS_PER_TOKEN)

    def docs(self, task: str, local_found: bool, index) -> str:
        s = self.settings
        if s.docs_tokens <= 0:
            return ""
        from locoder.knowledge.gather import context7_evidence, docs_evidence

        passages = []
        if index is not None:
            try:
                passages = docs_evidence(index, self.knowledge.embedder, task, s.docs_dirs, k=3,
                                         min_score=s.docs_min_score,
                                         progress=self._progress("embedding the docs and docstrings for search "
                                                                 "(once; later runs embed only what changed)"))
            except FAILURES as exc:
                self._warn("documentation passages", exc)
        if not passages and not local_found and self.knowledge.context7 is not None:
            from locoder.knowledge.context7 import Context7Error

            try:
                passages = context7_evidence(self.knowledge.context7, task, chars=s.context7_chars)
            except Context7Error as exc:
                self._warn("context7 passages", exc)
        lines = [f"- {p.cite}: {_clip(p.text, 600)}" for p in passages]
        return _fit("Relevant documentation, for reference (not tools you can call):", lines,
                    s.docs_tokens * CHARS_PER_TOKEN)

    def repo_map(self, task: str, index) -> str:
        if self.settings.repo_map_tokens <= 0 or index is None:
            return ""
        from locoder.index.repomap import map_text

        try:
            return map_text(index, task, self.settings.repo_map_tokens)
        except FAILURES as exc:
            self._warn("repo map", exc)
            return ""

    def __call__(self, task: str, index=None) -> str:
        """The context for ``task``; ``index`` is an up-to-date ``CodeIndex`` to use (else one is opened
        and updated once, for the docs and the map together)."""
        memories = self.memories(task)
        s = self.settings
        opened = None
        if index is None and (s.docs_tokens > 0 or s.repo_map_tokens > 0):
            from locoder.index.store import CodeIndex

            try:
                opened = index = CodeIndex(s.workspace_path, s.state_paths)
                first = not index.path.exists()
                bar = self._progress("indexing the code (once; later runs read only what changed)")
                index.update(progress=(lambda stage, done, total: bar(done, total)) if first else None)
            except FAILURES as exc:
                self._warn("code index", exc)
                index = None
        try:
            parts = [memories, self.docs(task, bool(memories), index), self.repo_map(task, index)]
        finally:
            if opened is not None:
                opened.close()
        return "\n\n".join(p for p in parts if p)


class MemoryRecorder:
    """Remembers each task as the user asked it and each final answer (an event sink)."""

    def __init__(self, knowledge: Knowledge, session: str, emit: Callable[[Event], None]) -> None:
        self.knowledge, self.session, self.warn = knowledge, session, emit

    def emit(self, event: Event) -> None:
        try:
            if isinstance(event, TaskStarted) and event.task.strip():
                self.knowledge.store.add(event.task, "user", self.session)
            elif isinstance(event, TaskFinished) and event.result.status == "submitted" and event.result.answer.strip():
                self.knowledge.store.add(event.result.answer, "answer", self.session)
        except FAILURES as exc:
            if not isinstance(event, Warned):
                self.warn(Warned(f"not remembered: {exc}"))
