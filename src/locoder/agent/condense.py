"""The condensed message that replaces older turns, built without a model call from what the steps did: the
files looked at and changed, the commands run and how they ended, the last failure, the model's last plan.

A ``Ledger`` keeps each loop step's typed record (its calls and their ``CommandRun`` / ``FileChange``
results) beside the assistant message that opened it; ``condensed`` writes the summary of the turns being
dropped from those records, never from the text the model was shown. Messages without a record (a
conversation restored from elsewhere) are kept as a line each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from locoder.events import Step
from locoder.messages import CommandRun, FileChange, Message, ToolCall, ToolResult

HEADER = "[Earlier turns, condensed to fit the context window]"


@dataclass
class Turn:
    """One loop step as the ledger keeps it."""

    task: int
    """Which task of the session (0: the first)."""
    step: int
    opened: Message
    """The assistant message the step appended (how the ledger finds it in the conversation)."""
    thought: str
    calls: list[ToolCall]
    results: list[ToolResult]


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ended(run: CommandRun) -> str:
    how = "timed out or stopped" if run.exit_code is None else f"exit {run.exit_code}"
    tests = run.tests
    if tests is not None and tests.passed is not None:
        how += f", {tests.passed} passed, {tests.failed} failed"
    return how


def _failed(result: ToolResult) -> bool:
    data = result.data
    if isinstance(data, CommandRun):
        return data.exit_code != 0
    return not result.ok


def _lines_changed(change: FileChange) -> tuple[int, int]:
    lines = change.diff.splitlines()
    plus = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    minus = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return plus, minus


class Ledger:
    """What each step did, for condensing. ``tools`` tells which calls look at a path (effect ``read``,
    subject ``path``)."""

    def __init__(self, tools: Mapping[str, Any]) -> None:
        self.tools = tools
        self.tasks: list[str] = []
        self.turns: list[Turn] = []

    def begin(self, task: str) -> None:
        self.tasks.append(task)

    def record(self, step: Step, opened: Message) -> None:
        task = max(0, len(self.tasks) - 1)
        self.turns.append(Turn(task, step.step, opened, step.thought or "", list(step.calls or []), step.results))

    def condensed(self, dropped: Sequence[Message], kept: Sequence[Message], previous: Message | None,
                  room: int, count: Callable[[str], int]) -> str:
        """The text replacing ``dropped``: every recorded turn no longer among the ``kept`` messages (those
        condensed before, in the ``previous`` condensed message, are written again from their records), cut
        to ``room`` tokens as ``count`` counts them."""
        staying = {id(m) for m in kept}
        covered = [t for t in self.turns if id(t.opened) not in staying]
        sections = [HEADER, *self._earlier(covered), *self._current(covered), *self._unrecorded(dropped, previous)]
        text = "\n".join(s for s in sections if s)
        while count(text) > room and len(text) > 200:
            keep = int(len(text) * 0.8)  # the head names the turns; the tail holds the last failure and plan
            text = f"{text[: keep // 3]}\n[...]\n{text[-(keep - keep // 3):]}"
        return text

    @property
    def _now(self) -> int:
        return max(0, len(self.tasks) - 1)

    def _earlier(self, turns: list[Turn]) -> list[str]:
        """Earlier tasks of the session, each with what it changed and how it ended."""
        out = []
        for task in sorted({t.task for t in turns if t.task < self._now}):
            mine = [t for t in turns if t.task == task]
            text = self.tasks[task] if task < len(self.tasks) else "(a task)"
            line = f"Earlier task: {_short(text, 200)}"
            changed = sorted({r.data.path for t in mine for r in t.results
                              if isinstance(r.data, FileChange) and r.data.changed})
            if changed:
                line += f"\n  changed: {', '.join(changed)}"
            answer = next((c.arguments.get("answer") for t in reversed(mine) for c in t.calls
                           if c.name == "final_answer"), None)
            if answer:
                line += f"\n  answered: {_short(str(answer), 200)}"
            out.append(line)
        return out

    def _current(self, turns: list[Turn]) -> list[str]:
        mine = [t for t in turns if t.task == self._now]
        if not mine:
            return []
        out = [f"This task, steps {mine[0].step}-{mine[-1].step}:"]
        results = [r for t in mine for r in t.results]
        looked = dict.fromkeys(str(r.call.arguments.get("path", "")) for r in results if self._looks(r.call))
        if looked:
            out.append(f"Looked at: {', '.join(p for p in looked if p)}")
        out += self._changes(results)
        out += self._commands(results)
        others = Counter(r.call.name for r in results if not isinstance(r.data, (CommandRun, FileChange))
                         and not self._looks(r.call))
        if others:
            out.append("Other calls: " + ", ".join(f"{name} x{n}" for name, n in others.most_common()))
        out += self._last_failure(results)
        thought = next((t.thought for t in reversed(mine) if t.thought), "")
        if thought:
            out.append(f"Your last stated plan: {_short(thought, 300)}")
        return out

    def _looks(self, call: ToolCall) -> bool:
        tool = self.tools.get(call.name)
        return tool is not None and tool.effects == {"read"} and tool.subject == "path"

    @staticmethod
    def _changes(results: list[ToolResult]) -> list[str]:
        edits: dict[str, list[int]] = {}
        for r in results:
            if isinstance(r.data, FileChange) and r.data.changed:
                plus, minus = _lines_changed(r.data)
                tally = edits.setdefault(r.data.path, [0, 0, 0])
                tally[0], tally[1], tally[2] = tally[0] + 1, tally[1] + plus, tally[2] + minus
        if not edits:
            return []
        return ["Files changed: " + ", ".join(f"{p} ({n} change{'s' * (n > 1)}, +{a} -{b} lines)"
                                               for p, (n, a, b) in edits.items())]

    @staticmethod
    def _commands(results: list[ToolResult]) -> list[str]:
        runs = Counter((r.data.command, _ended(r.data)) for r in results if isinstance(r.data, CommandRun))
        if not runs:
            return []
        lines = [f"- `{_short(command, 120)}`: {how}" + (f" (x{n})" if n > 1 else "")
                 for (command, how), n in runs.items()]
        more = [f"- ... and {len(lines) - 12} earlier ones"] if len(lines) > 12 else []
        return ["Commands run:", *more, *lines[-12:]]

    @staticmethod
    def _last_failure(results: list[ToolResult]) -> list[str]:
        failed = next((r for r in reversed(results) if _failed(r)), None)
        if failed is None:
            return []
        head = f"Last failure: {failed.call.render(60)}"
        data = failed.data
        if isinstance(data, CommandRun) and data.tests is not None and data.tests.failures:
            head += "; failing: " + ", ".join(data.tests.failures[:5])
        tail = "\n".join(line for line in failed.output.strip().splitlines()[-12:])
        return [head, "  " + tail[-700:].replace("\n", "\n  ")]

    def _unrecorded(self, dropped: Sequence[Message], previous: Message | None) -> list[str]:
        """A line for each dropped message no record covers (not a step's, not a task's, not the previous
        condensed message), so that nothing disappears without a trace."""
        opened = {id(t.opened) for t in self.turns}
        out, in_turn = [], False
        for m in dropped:
            if m is previous:
                continue
            if m.role == "assistant":
                in_turn = id(m) in opened
                if in_turn:
                    continue
            elif in_turn or any(m.content.startswith(task) for task in self.tasks if task):
                continue
            out.append(f"- {m.role}: {_short(m.content, 160)}")
        return ["Other earlier messages:", *out[-8:]] if out else []

