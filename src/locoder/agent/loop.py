"""The Reason -> Act -> Observe loop. New behaviour comes from sinks and wrappers, not flags in here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from locoder.agent.condense import Ledger
from locoder.agent.doom import DoomGuard
from locoder.agent.window import TokenCounter, Window, margin, summarise, tool_text
from locoder.events import (
    Error,
    Event,
    ModelTurn,
    Observation,
    RunResult,
    Step,
    Suggested,
    TaskFinished,
    TaskStarted,
    Thinking,
    ToolFinished,
    ToolStarted,
)
from locoder.exceptions import FormatError, LimitsExceeded, LocoderError, StepInterrupt, Submitted, TaskFailed
from locoder.messages import Message, ModelResponse, ToolCall, ToolResult, Usage
from locoder.models.parsing import action_schema, format_error, parse_tool_calls, split_thinking, thought_of
from locoder.protocols import Advisor, EventSink, Model
from locoder.tools import ToolBox
from locoder.tools.guard import GuardedToolBox

__all__ = ["Agent", "AgentConfig", "RunResult"]


@dataclass
class AgentConfig:
    max_steps: int = 30
    max_actions_per_turn: int = 1
    observation_summary_chars: int = 4000
    format_retries: int = 3
    repeat_limit: int = 3
    tool_mode: str = "constrained"  # constrained | native | text
    tool_syntax: str = "json"  # the model family's own text format for tool calls (models/profiles.py)
    context_window: int = 8192
    max_tokens: int = 1024
    condense: bool = True
    """Condense older turns when the conversation nears the window (off: sent whole, for comparison)."""
    doom_limit: int = 4
    """The same command failing the same way this many times in a task ends it (an edit undone and redone:
    one time fewer; agent/doom.py)."""


class Agent:
    def __init__(self, model: Model, toolbox: ToolBox | GuardedToolBox | Any, config: AgentConfig, system: str,
                 sinks: Iterable[EventSink] = (), task_context: Callable[[str], str] | None = None,
                 advisor: Advisor | None = None, history: Iterable[Message] = ()) -> None:
        self.model, self.toolbox, self.config, self.sinks = model, toolbox, config, list(sinks)
        self.advisor = advisor
        """Suggests a tool before each turn (the learned bandit); it also listens as a sink."""
        if advisor is not None:
            self.sinks.append(advisor)
        self.task_context = task_context
        """Extra context sent with each task (the repo map); the system prompt never changes, so the
        server's prefix cache holds."""
        self.messages: list[Message] = [Message("system", system), *history]
        """The conversation; ``history`` continues a resumed session's after the current system prompt."""
        self.schemas = [t.openai_schema() for t in toolbox.tools.values()]
        self.param_names = {t.name: list(t.parameters["properties"]) for t in toolbox.tools.values()}
        self.usage = Usage()
        budget = config.context_window - config.max_tokens - margin(config.context_window)
        self.window = Window(TokenCounter(model), max(64, budget), Ledger(toolbox.tools), condense=config.condense,
                             fixed=tool_text(self.schemas) if config.tool_mode == "native" else "")
        """Keeps each request inside the context window, condensing older turns (agent/window.py)."""
        self._reset_task_state()

    def _reset_task_state(self) -> None:
        self.steps, self._format_failures, self._last_key, self._repeats = 0, 0, "", 0
        self._seen: dict[tuple[str, int], int] = {}
        self.doom = DoomGuard(self.config.doom_limit)

    def emit(self, event: Event) -> None:
        """Every sink gets the event, even when one before it fails; the first failure is raised after."""
        failure = None
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:  # noqa: BLE001 - re-raised below, once every sink had its turn
                failure = failure or exc
        if failure is not None:
            raise failure

    def run(self, task: str, evidence: str = "", announce: bool = True) -> RunResult:
        """Work on ``task`` until it is done or stops. ``evidence`` (what a workflow found before handing the
        task over) comes with it; ``announce=False`` when that workflow already emitted the task event."""
        extra = "\n\n".join(p for p in (evidence, self.task_context(task) if self.task_context else "") if p)
        self.messages.append(Message("user", f"{task}\n\n{extra}" if extra else task))
        self.window.begin(task)
        if announce:
            self.emit(TaskStarted(task, context_chars=len(extra)))
        self._reset_task_state()
        start, usage_before = time.monotonic(), Usage(**asdict(self.usage))
        status, answer, stop = "failed", "", "failed"
        try:
            while True:
                try:
                    self.step()
                except Submitted as done:
                    status, answer, stop = done.status, done.answer, "answer"
                    break
                except TaskFailed as failure:
                    answer, stop = failure.reason, failure.stop
                    self.messages.append(Message("user", f"[The task stopped: {failure.reason}]"))
                    break
                except StepInterrupt as interrupt:
                    self.messages.extend(interrupt.messages)
        except KeyboardInterrupt:
            status, answer, stop = "cancelled", "cancelled by the user", "cancelled"
            self.messages.append(Message("user", "[The user interrupted the last step.]"))
        except LocoderError as exc:
            status, answer, stop = "error", str(exc), "error"
        except Exception as exc:  # a bug or a bad input must still end the run with its result on record
            status, answer, stop = "error", f"internal error: {type(exc).__name__}: {exc}"[:2000], "error"
            self._emit_quietly(Error(type(exc).__name__, str(exc)[:2000], step=self.steps))
        used = Usage(**asdict(self.usage))
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            setattr(used, name, getattr(used, name) - getattr(usage_before, name))
        result = RunResult(status, answer, self.steps, used, time.monotonic() - start, stop)
        self._emit_quietly(TaskFinished(result))
        return result

    def _emit_quietly(self, event: Event) -> None:
        """Emit where a failing sink must not hide the outcome (the other sinks still got the event)."""
        try:
            self.emit(event)
        except Exception:  # noqa: BLE001, S110
            pass

    def step(self) -> None:
        if self.steps >= self.config.max_steps:
            raise LimitsExceeded(reason=f"no final answer after {self.config.max_steps} steps (--max-steps)")
        self.steps += 1
        step = Step(self.steps)
        try:
            self.execute(self.parse(self.query(step), step), step)
        finally:
            self.window.record(step, self.messages)
            self.emit(step)

    def query(self, step: Step) -> ModelResponse:
        mode, n = self.config.tool_mode, self.config.max_actions_per_turn
        advice = self.advisor.advise() if self.advisor is not None else None
        if advice is not None:
            step.suggestion = advice.as_dict()
            self.emit(Suggested(self.steps, **advice.as_dict()))
            if advice.hint:
                last = self.messages[-1]
                self.messages[-1] = Message(last.role, f"{last.content}\n\n{advice.hint_text()}")
        fitted = self.window.fit(self.messages)
        step.compacted = fitted.messages + fitted.shortened if fitted else 0
        step.condensed = fitted.as_dict() if fitted else None
        schema = action_schema(self.schemas, n) if mode == "constrained" else None
        self.emit(Thinking(self.steps))
        response = self.model.query(self.messages, schema=schema, tools=self.schemas if mode == "native" else None)
        self.usage.add(response.usage)
        content, thinking = split_thinking(response.content)
        native = [{"tool": c.name, "arguments": c.arguments} for c in response.tool_calls]
        self.messages.append(Message("assistant", content or json.dumps(native)))
        step.turn = ModelTurn(response, prompt_chars=sum(len(m.content) for m in self.messages[:-1]),
                              prompt_messages=len(self.messages) - 1, reasoning=response.reasoning or thinking)
        return response

    def parse(self, response: ModelResponse, step: Step) -> list[ToolCall]:
        try:
            if response.finish_reason == "length":
                raise format_error("it was cut off at the token limit; keep the thought short, write large files in parts")
            calls = parse_tool_calls(response.content, response.tool_calls, self.param_names, self.config.tool_syntax)
        except FormatError as exc:
            self._format_failures += 1
            step.format_error = exc.reason
            if self._format_failures > self.config.format_retries:
                raise TaskFailed(reason=f"the model's output could not be used {self._format_failures} times in a row ({exc.reason})",
                                 stop="unparseable") from None
            raise
        self._format_failures = 0
        step.thought = thought_of(response.content)
        step.calls = calls
        return calls

    def execute(self, calls: list[ToolCall], step: Step) -> None:
        limit = self.config.max_actions_per_turn
        observations, step.observations = [], []
        for call in calls[:limit]:
            note = self._repeat_note(call)
            self.emit(ToolStarted(self.steps, call, self.toolbox.tools.get(call.name), step.reasoning))
            result = self.toolbox.execute(call)
            self.emit(ToolFinished(self.steps, result))
            doom = self.doom.check(result)
            note = note or self._circling_note(result) or doom
            tool = self.toolbox.tools.get(call.name)
            whole = tool is not None and tool.whole and result.ok
            text = result.output if whole else summarise(result.output, self.config.observation_summary_chars)
            step.observations.append(Observation(result, text))
            observations.append(f"Result of {call.render()}:\n{text}{note}")
        if len(calls) > limit:
            ignored = ", ".join(c.name for c in calls[limit:])
            observations.append(f"[Only {limit} tool call(s) per turn are run; not run: {ignored}]")
        self.messages.append(Message("tool", "\n\n".join(observations)))

    def _circling_note(self, result: ToolResult) -> str:
        """The same calls going round with the same results (grep, list, read, grep, list, read...), nothing
        changed in between, stop the task as a repeat in a row does."""
        call = result.call
        tool = self.toolbox.tools.get(call.name)
        if tool is not None and tool.changes:
            self._seen.clear()
            return ""
        pair = (call.key(), hash(result.output))
        seen = self._seen[pair] = self._seen.get(pair, 0) + 1
        if seen >= self.config.repeat_limit:
            raise TaskFailed(reason=f"the model is going round in circles: {call.render()} {seen} times with the "
                                    "same result and nothing changed in between", stop="repeated")
        if seen == self.config.repeat_limit - 1:
            return "\n[You made this call before and got this same result. Take a different step or call final_answer.]"
        return ""

    def _repeat_note(self, call: ToolCall) -> str:
        key = call.key()
        self._repeats = self._repeats + 1 if key == self._last_key else 1
        self._last_key = key
        if self._repeats >= self.config.repeat_limit:
            raise TaskFailed(reason=f"the model made the same call {self._repeats} times in a row: {call.render()}",
                             stop="repeated")
        if self._repeats == self.config.repeat_limit - 1:
            return "\n[You already made this exact call and got this result. Do not repeat it: take the next step or call final_answer.]"
        return ""
