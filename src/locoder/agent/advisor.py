"""The tool-suggesting bandit in the loop: before each model turn it suggests a tool (shown to the user, and
given to the model as a hint once it has evidence), and when a task ends it scores each step
(``learn/rewards.py``), updates the policy, saves it and appends one reward event per step.

It is an event sink: it learns the task from ``TaskStarted``, each step's calls and outcomes from ``Step`` (the
tests a call ran from its typed ``CommandRun``) and the end from ``TaskFinished``, so the loop only has to ask
it for advice. What arguments a suggestion gets depends on the tool's subject argument (``Tool.subject``).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from locoder.events import Event, Step, TaskFinished, TaskStarted
from locoder.index.store import CodeIndex
from locoder.learn import bandit
from locoder.learn.arguments import PATH, fill_arguments
from locoder.learn.persistence import append_event, load_state, lock_path, save_state
from locoder.learn.rewards import StepOutcome, step_rewards
from locoder.locations import StatePaths
from locoder.locking import locked
from locoder.messages import CommandRun, ToolResult
from locoder.tools import Tool
from locoder.tools.guard import registered

NOT_SUGGESTED = frozenset({"final_answer"})
LOG_ERROR = re.compile(rb"\b(ERROR|Error|error|Exception|Traceback|FATAL|panic|FAILED)\b")
MIN_TRIES = 3
"""A suggestion becomes a hint to the model once its tool has been tried this often..."""
MIN_EXPECTED = 0.5
"""...and is expected to earn at least this reward in the current context."""


def arguments_for(tool: Tool | None, task: str, exists: Callable[[str], bool] = lambda path: False) -> dict:
    """Arguments for suggesting ``tool`` on ``task``: its subject argument filled from the request, when that is
    the only argument it needs (an edit needs more than the request says: none are filled)."""
    if tool is None or not tool.subject or set(tool.parameters["required"]) - {tool.subject}:
        return {}
    return fill_arguments(tool.subject, task, exists, tool.defaults.get(tool.subject))


def tests_of(result: ToolResult) -> tuple[int, int] | None:
    """(passed, failed) when the call ran tests that reported counts."""
    data = result.data
    if not isinstance(data, CommandRun) or data.tests is None or data.tests.passed is None:
        return None
    return data.tests.passed, data.tests.failed or 0


def earns_hint(tries: int, expected: float) -> bool:
    """Whether a suggestion has the evidence to be given to the model."""
    return tries >= MIN_TRIES and expected >= MIN_EXPECTED


@dataclass
class Suggestion:
    tool: str
    why: str
    arguments: dict = field(default_factory=dict)
    expected: float = 0.0
    tries: int = 0
    hint: bool = False
    """Whether the model is told (the bandit has enough evidence for this tool)."""

    def call(self) -> str:
        return f"{self.tool}({json.dumps(self.arguments, ensure_ascii=False)})" if self.arguments else self.tool

    def hint_text(self) -> str:
        return (f"[Hint: in similar steps {self.tool} helped most (expected reward {self.expected:.2f} over "
                f"{self.tries} tries); for example {self.call()}. Use it if it fits this step; otherwise "
                f"choose the right tool.]")

    def as_dict(self) -> dict:
        return {"tool": self.tool, "why": self.why, "arguments": self.arguments, "expected": round(self.expected, 3),
                "tries": self.tries, "hint": self.hint}


def logs_have_errors(workspace: Path, tail_bytes: int = 65536, max_files: int = 20) -> bool:
    """Whether the ends of the files in ``logs/`` mention an error (cheap: only their last 64 KB)."""
    folder = workspace / "logs"
    if not folder.is_dir():
        return False
    checked = 0
    for path in sorted(folder.rglob("*")):
        if checked >= max_files:
            break
        if not path.is_file():
            continue
        checked += 1
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - tail_bytes))
                if LOG_ERROR.search(handle.read()):
                    return True
        except OSError:
            continue
    return False


class ToolAdvisor:
    """Suggests tools and learns from outcomes. State: ``StatePaths.rl_state`` and ``rl_events`` (``state``: the
    workspace's ``StatePaths``). ``tools``: the session's tools (a name stands for the
    registered tool of that name); ``descriptions`` (tool name -> what it does) give tools new to the state
    their prior."""

    def __init__(self, state: StatePaths, tools: Sequence[str | Tool], workspace: Path, *,
                 epsilon: float = 0.05, cooldowns: dict[str, float] | None = None, hint: bool = True,
                 session: str = "", seed: int | None = None, clock=time.time, notify=None,
                 descriptions: dict[str, str] | None = None) -> None:
        self.paths = state
        self.state_dir, self.workspace = self.paths.root, workspace
        self.tools = {t.name: t for t in (registered(t) if isinstance(t, str) else t for t in tools) if t is not None}
        names = [t if isinstance(t, str) else t.name for t in tools]
        self.arms = [t for t in names if t not in NOT_SUGGESTED]
        self.epsilon, self.hint, self.session, self.clock = epsilon, hint, session, clock
        self.notify = notify or (lambda message: None)
        self.cooldowns = {t: s for t, s in (cooldowns or {}).items() if s > 0}
        self.prior = {t: d for t, d in (descriptions or {}).items() if t in self.arms}
        self.state, self.warning = load_state(self.state_path, self.arms, self.prior)
        self.rng = random.Random(seed)
        self._reset("")

    @property
    def state_path(self) -> Path:
        return self.paths.rl_state

    @property
    def events_path(self) -> Path:
        return self.paths.rl_events

    def _reset(self, task: str) -> None:
        self.task = task
        self.outcomes: list[tuple[StepOutcome, object, str, str]] = []  # (outcome, features, suggested, previous)
        self.last_tool, self.last_ok, self.last_arguments = "", True, None
        self.log_errors = logs_have_errors(self.workspace) if task else False
        self.current: tuple[object, str] | None = None

    def context(self) -> bandit.Situation:
        return bandit.Situation(self.task, index_exists=CodeIndex(self.workspace, self.paths).path.is_file(),
                              last_tool=self.last_tool, last_ok=self.last_ok, error_in_logs=self.log_errors,
                              files_mentioned=bool(PATH.search(self.task)))

    def advise(self) -> Suggestion | None:
        """The tool to suggest for the coming step (None before a task)."""
        if not self.task:
            return None
        x = bandit.featurize(self.context(), self.state.dim)
        cooling = bandit.on_cooldown(self.state, self.cooldowns, self.clock())
        try:
            tool, why = bandit.choose(self.state, x, self.rng, self.epsilon, frozenset(cooling))
            arguments = self._arguments(tool)
            if tool == self.last_tool and arguments == self.last_arguments:
                # Never suggest the call just made: the model takes the hint and repeats itself.
                tool, why = bandit.choose(self.state, x, self.rng, self.epsilon, frozenset(cooling) | {tool})
                arguments = self._arguments(tool)
        except ValueError:
            return None
        self.current = (x, tool)
        expected = bandit.scores(self.state, x)[tool][0]
        tries = self.state.counts.get(tool, 0)
        exploring = why.startswith("exploring")
        if tries == 0:
            why = "exploring (epsilon)" if exploring else "no experience yet"
        elif cooling:
            why += "; on cooldown: " + ", ".join(f"{t} {s:.0f}s" for t, s in sorted(cooling.items()))
        hint = self.hint and not exploring and earns_hint(tries, expected) and \
            bandit.trusted(self.state, tool, self.last_tool)
        return Suggestion(tool, why, arguments, expected, tries, hint=hint)

    def _arguments(self, tool: str) -> dict:
        return arguments_for(self.tools.get(tool), self.task, lambda p: (self.workspace / p).is_file())

    # -- sink -----------------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if isinstance(event, TaskStarted):
            self._reset(event.task)
        elif isinstance(event, Step) and self.task and not event.harness:
            self._step(event)
        elif isinstance(event, TaskFinished) and self.task:
            self._finish(event.result.status, str(event.result.answer))
            self._reset("")

    def _step(self, step: Step) -> None:
        x, suggested = self.current or (bandit.featurize(self.context(), self.state.dim), "")
        self.current = None
        thought = step.thought or ""
        for observation in step.observations or []:
            result = observation.result
            tool, arguments = result.call.name, result.call.arguments
            if tool in NOT_SUGGESTED:
                continue
            said = f"{thought}\n{json.dumps(arguments, ensure_ascii=False)}"
            if tool in self.arms:
                self.outcomes.append((StepOutcome(tool, result.ok, observation.shown, said, result.approval,
                                                  tests_of(result)), x, suggested, self.last_tool))
            if tool in self.cooldowns and result.ok:
                with locked(lock_path(self.state_path)):
                    self._reload()
                    self.state.last_run[tool] = self.clock()
                    self._save()
            self.last_tool, self.last_ok, self.last_arguments = tool, result.ok, arguments

    def _finish(self, status: str, answer: str) -> None:
        if not self.outcomes:
            return
        rewards = step_rewards([o for o, _, _, _ in self.outcomes], self.task, status, answer)
        with locked(lock_path(self.state_path)):
            self._reload()
            for (outcome, x, suggested, previous), (reward, parts) in zip(self.outcomes, rewards):
                self.state = bandit.update(self.state, outcome.tool, x, reward)
                if suggested and suggested == outcome.tool:
                    bandit.record_hint(self.state, suggested, previous, reward > 0)
                self._save()
                try:
                    append_event(self.events_path, {
                        "type": "reward", "session": self.session, "update": self.state.steps, "tool": outcome.tool,
                        "suggested": suggested, "followed": suggested == outcome.tool, "reward": reward,
                        "parts": parts, "status": status})
                except OSError:  # the events file is a record for plots; losing a line must not stop a session
                    pass
        self.outcomes = []

    def _reload(self) -> None:
        """Take in what other sessions saved since this one loaded (updates add up, so nothing is lost)."""
        if not self.state_path.exists():
            return
        state, warning = load_state(self.state_path, self.arms, self.prior)
        if warning:
            self.notify(warning)
        self.state = state

    def _save(self) -> None:
        try:
            save_state(self.state_path, self.state)
        except OSError as exc:  # a full disk must not end the session; the next save writes it all
            self.notify(f"could not save what the tool bandit learned to {self.state_path} ({exc.strerror})")
