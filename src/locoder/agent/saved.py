"""Saved sessions: each session's conversation and tasks kept on disk, so that a later process can go on with
it (``locoder resume``, ``locoder run --continue``) and ``locoder sessions`` can list them.

``SessionSaver`` is an event sink: when a task starts, after every step and when a task ends it rewrites the
session's file (``StatePaths.saved_sessions / <id>.json``) atomically, every string redacted as the audit log
redacts it. The file is versioned JSON (``FORMAT``, ``VERSION``); reading one checks every field, and a file
that is cut off, malformed or from a newer locoder is a ``SessionFileError`` naming it, never a traceback.

What is saved: the id (the audit log's session id, kept when the session is resumed), when it started and was
last saved, the workspace, the settings that shaped it (a record only), the tasks with their outcomes, and the
conversation after the system prompt, as the model last saw it. What is restored: only the conversation. The
system prompt is the current one, and the current settings and trust rules apply in full, so nothing in a saved
file (nothing the model wrote) can widen what a later session may do.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locoder.agent.window import TokenCounter
from locoder.events import Event, Step, TaskFinished, TaskStarted
from locoder.exceptions import ConfigError, LocoderError
from locoder.locations import StatePaths
from locoder.messages import Message

FORMAT = "locoder-session"
VERSION = 1
ROLES = ("user", "assistant", "tool")
"""The roles a saved conversation may hold: never ``system`` (the current system prompt is used)."""
RECORDED = ("model", "model_name", "workflow", "mode", "approval", "sandbox", "max_steps")
"""The settings kept with a session beside what was resolved from them (backend, tool mode, toolset, window)."""
MAX_BYTES = 64 << 20
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SessionFileError(LocoderError):
    """A saved session's file cannot be used: it names the file and what is wrong with it."""


@dataclass
class SavedSession:
    id: str
    started: str
    updated: str
    workspace: str
    settings: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    path: Path | None = None

    @property
    def first_task(self) -> str:
        return self.tasks[0]["task"] if self.tasks else ""

    @property
    def outcome(self) -> str:
        """The status of the last task (``submitted``, ``failed``..., ``running`` when it never ended)."""
        return str(self.tasks[-1].get("status", "")) if self.tasks else ""

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "id": self.id, "started": self.started,
                "updated": self.updated, "workspace": self.workspace, "settings": self.settings,
                "tasks": self.tasks, "messages": [{"role": m.role, "content": m.content} for m in self.messages]}


@dataclass(frozen=True)
class Unreadable:
    """A file in the saved sessions' folder that cannot be read, and why."""

    path: Path
    reason: str

    @property
    def id(self) -> str:
        return self.path.stem


def _stamp(seconds: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


# -- reading ---------------------------------------------------------------------------------------------------
def load_session(path: Path) -> SavedSession:
    """The saved session in ``path``; ``SessionFileError`` saying what is wrong when it cannot be used."""
    from locoder.regular_files import read_regular

    try:
        raw = read_regular(path, MAX_BYTES)
        if len(raw) > MAX_BYTES:
            raise SessionFileError(f"saved session {path} is larger than {MAX_BYTES >> 20} MiB")
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise SessionFileError(f"saved session {path} cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SessionFileError(f"saved session {path} is not valid JSON (cut off or damaged?): {exc}") from None
    try:
        session = _parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionFileError(f"saved session {path} is malformed: {exc}") from None
    session.path = path
    return session


def _parse(data: Any) -> SavedSession:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a locoder session (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"bad version {version!r}")
    if version > VERSION:
        raise ValueError(f"written by a newer locoder (format version {version}; this one reads {VERSION})")
    strings = {key: data[key] for key in ("id", "started", "updated", "workspace")}
    bad = [key for key, value in strings.items() if not isinstance(value, str)]
    if bad or not ID.match(strings["id"]):
        raise ValueError(f"{(bad or ['id'])[0]!r} is missing or not a valid string")
    settings, tasks, messages = data.get("settings", {}), data["tasks"], data["messages"]
    if not isinstance(settings, dict) or not isinstance(tasks, list) or not isinstance(messages, list):
        raise ValueError("'settings' must be an object, 'tasks' and 'messages' lists")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("task"), str):
            raise ValueError(f"task {i} has no text")
    return SavedSession(**strings, settings=settings, tasks=tasks, messages=[_message(i, m) for i, m in enumerate(messages)])


def _message(i: int, item: Any) -> Message:
    if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("content"), str):
        raise ValueError(f"message {i} is not a {{role: {'|'.join(ROLES)}, content: text}}")
    return Message(item["role"], item["content"])


def _files(state: StatePaths) -> list[Path]:
    """The saved sessions' files, the most recently saved first."""
    try:
        found = [p for p in state.saved_sessions.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot list {state.saved_sessions} ({exc.strerror})") from None

    def saved_at(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=lambda p: (saved_at(p), p.name), reverse=True)


def list_sessions(state: StatePaths) -> list[SavedSession | Unreadable]:
    """Every saved session of the workspace, the most recently saved first; a file that cannot be read is
    listed as ``Unreadable`` with the reason."""
    out: list[SavedSession | Unreadable] = []
    for path in _files(state):
        try:
            out.append(load_session(path))
        except SessionFileError as exc:
            out.append(Unreadable(path, str(exc)))
    return out


def find_session(state: StatePaths, ident: str = "") -> SavedSession:
    """The saved session ``ident`` (its id, or a prefix only it has); with no ``ident`` the most recently saved
    one. ``ConfigError`` when there is none or the prefix fits several; ``SessionFileError`` when its file
    cannot be read."""
    files = _files(state)
    if not ident:
        if not files:
            raise ConfigError(f"no saved session in {state.saved_sessions}: run a task first (locoder run TASK)")
        try:
            return load_session(files[0])
        except SessionFileError as exc:
            raise SessionFileError(f"{exc}; the last saved session cannot be resumed: give another's id "
                                   "(locoder sessions lists them)") from None
    if not ID.match(ident):
        raise ConfigError(f"{ident!r} is not a session id (letters, digits, - and _): locoder sessions lists them")
    exact = [p for p in files if p.stem == ident]
    matches = exact or [p for p in files if p.stem.startswith(ident)]
    if not matches:
        raise ConfigError(f"no saved session {ident!r} in {state.saved_sessions}: locoder sessions lists them")
    if len(matches) > 1:
        names = ", ".join(p.stem for p in matches[:5])
        raise ConfigError(f"{ident!r} fits {len(matches)} saved sessions ({names}): give more of the id")
    return load_session(matches[0])


# -- restoring ---------------------------------------------------------------------------------------------------
def fit_conversation(system: Message, messages: list[Message], budget_tokens: int) -> list[Message]:
    """The restored conversation, made to fit ``budget_tokens`` with the system prompt by estimate: the oldest
    turns after the first task are left out, with a note saying so on that task. (Before each request the
    loop's window fits it exactly, counting with the model's tokenizer.)"""
    restored = [system, *messages]
    dropped = 0
    first = next((i for i, m in enumerate(restored) if m.role == "user"), len(restored))
    while TokenCounter.rough(restored) > budget_tokens and len(restored) > first + 3:
        del restored[first + 1]
        dropped += 1
    if dropped:
        task = restored[first]
        restored[first] = Message(task.role, f"{task.content}\n\n[{dropped} later messages of this conversation "
                                             "were left out to fit the context window]")
    return restored[1:]


# -- saving ------------------------------------------------------------------------------------------------------
class SessionSaver:
    """An ``EventSink`` that keeps the session's file up to date: at the start and end of each task and after
    every step. Nothing is written before the first task. A disk that fails turns it off with one warning; it
    never stops the agent."""

    def __init__(self, state: StatePaths, session: SavedSession, messages: Callable[[], list[Message]],
                 warn: Callable[[str], None] | None = None) -> None:
        from locoder.safety.secrets import secret_env_values

        self.state, self.session, self.messages = state, session, messages
        self.warn = warn or (lambda message: print(f"locoder: warning: {message}", file=sys.stderr))
        self.path = state.saved_sessions / f"{session.id}.json"
        self.failed = False
        self._secrets = tuple(secret_env_values(os.environ))
        self._redacted: dict[str, str] = {}

    def emit(self, event: Event) -> None:
        tasks = self.session.tasks
        if isinstance(event, TaskStarted):
            tasks.append({"task": event.task, "started": _stamp(), "status": "running", "stop": "", "answer": "",
                          "steps": 0, "workflow": event.workflow or "loop"})
        elif isinstance(event, TaskFinished) and tasks:
            result = event.result
            tasks[-1].update(status=result.status, stop=result.stop, answer=str(result.answer)[:2000],
                             steps=result.steps, seconds=round(result.seconds, 1))
        elif not (isinstance(event, Step) and tasks):
            return
        self.save()

    def save(self) -> None:
        from locoder.atomic import write_atomic
        from locoder.safety.secrets import redact_obj

        if self.failed:
            return
        session = self.session
        session.updated, session.messages = _stamp(), [m for m in self.messages() if m.role in ROLES]
        record = session.as_dict()
        record["messages"] = [{"role": m["role"], "content": self._redact(m["content"])} for m in record["messages"]]
        record.update(redact_obj({k: record[k] for k in ("settings", "tasks", "workspace")}, self._secrets))
        # backslashreplace keeps a lone surrogate (from a model, a file name) as its JSON escape: valid UTF-8.
        text = (json.dumps(record, ensure_ascii=False, indent=1, default=str) + "\n").encode("utf-8", "backslashreplace")
        try:
            write_atomic(self.path, text)
        except OSError as exc:
            self.failed = True
            self.warn(f"the session cannot be saved to {self.path} ({exc.strerror}); it cannot be resumed later")

    def _redact(self, text: str) -> str:
        """Redacted as the audit log redacts; each distinct message once (the conversation grows by appending)."""
        from locoder.safety.secrets import redact

        done = self._redacted.get(text)
        if done is None:
            if len(self._redacted) > 4 * len(self.session.messages) + 64:
                self._redacted.clear()  # compaction replaced older messages: drop what is no longer sent
            done = self._redacted[text] = redact(text, self._secrets)
        return done


def new_session(session_id: str, workspace: Path, settings: dict[str, Any]) -> SavedSession:
    now = _stamp()
    return SavedSession(session_id, now, now, str(workspace), settings)
