"""Keeping the conversation inside the context window: token counts, observation summaries, condensation.

Tokens are counted with the model's own tokenizer where the backend has one (``count_tokens(text) -> int``:
llama.cpp's ``/tokenize``, a transformers tokenizer), else estimated; each text is counted once. When the
conversation would pass the budget (the window less the reply's ``max_tokens`` and a margin), the oldest turns
are replaced by one condensed message (``condense.py``, built without a model call); the system prompt, the
task and the latest turns stay whole. A request is never sent over the budget: what still does not fit is cut
to its head and tail, the latest observation and the task last.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from locoder.agent.condense import Ledger
from locoder.events import Step
from locoder.exceptions import BackendError, TaskFailed
from locoder.messages import Message

CHARS_PER_TOKEN = 3.2  # conservative for code with BPE tokenizers
MESSAGE_OVERHEAD = 5
"""Tokens a chat template adds per message (role markers, separators), roughly."""
REPLY_PRIMER = 3
"""Tokens of the assistant header a template adds for the reply."""
CONDENSE_TO = 0.6
"""A condensation leaves the conversation at this share of the budget, so that it happens rarely: each one
invalidates the server's prompt cache past the task."""
SHORTENED = "\n[shortened to fit the context window]"


def summarise(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit // 3) :] if limit >= 3 else ""
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters omitted] ...\n{tail}"


def estimate(text: str) -> int:
    """Tokens of ``text`` by its length, where no tokenizer is at hand. Digits count one each: the tokenizers
    of Qwen, Llama 3 and DeepSeek split numbers into digits or short groups, and logs and test output are full
    of them (measured on bench/bench_condense.py's session: by length alone, 22 to 24% too few)."""
    digits = sum(c.isdigit() for c in text)
    return int((len(text) - digits) / CHARS_PER_TOKEN) + digits + 1


def margin(context_window: int) -> int:
    """Tokens kept free beside the reply, for what the per-message overhead does not cover exactly."""
    return 32 + context_window // 64


class TokenCounter:
    """Counts tokens with the model's tokenizer (its ``count_tokens``) where it has one, else by estimate.
    Each text is counted once (a conversation is counted again every turn, and only its new messages are
    new). A tokenizer that fails (the server has no ``/tokenize``) is not asked again."""

    def __init__(self, model: Any = None, cache_size: int = 4096) -> None:
        self._count: Callable[[str], int] | None = getattr(model, "count_tokens", None)
        self.source = "tokenizer" if self._count is not None else "estimate"
        """Where the counts come from: ``tokenizer`` or ``estimate`` (also once a tokenizer failed)."""
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    def text(self, text: str) -> int:
        known = self._cache.get(text)
        if known is not None:
            return known
        count = None
        if self._count is not None:
            try:
                count = int(self._count(text))
            except BackendError:
                self._count, self.source = None, "estimate"
        if count is None:
            count = estimate(text)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[text] = count
        return count

    def messages(self, messages: Sequence[Message]) -> int:
        """The tokens of a request made of ``messages``, with the chat template's overhead."""
        return sum(self.text(m.content) + MESSAGE_OVERHEAD for m in messages) + REPLY_PRIMER

    @staticmethod
    def rough(messages: Sequence[Message], extra: str = "") -> int:
        """The estimate alone, asking no tokenizer (to tell that a conversation is far from the window)."""
        return sum(estimate(m.content) + MESSAGE_OVERHEAD for m in messages) + estimate(extra) + REPLY_PRIMER


@dataclass
class Fitted:
    """What fitting a conversation into the window did, for the step's audit record."""

    messages: int
    """Messages replaced by the one condensed message (0: none were)."""
    shortened: int
    """Messages that still had to be cut to their head and tail."""
    tokens_before: int
    tokens_after: int
    budget: int
    counter: str

    def as_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "shortened": self.shortened, "tokens_before": self.tokens_before,
                "tokens_after": self.tokens_after, "budget": self.budget, "counter": self.counter}


class Window:
    """Fits the conversation into ``budget`` tokens before each request. ``fixed`` is text the request carries
    beside the messages (the tool schemas, in native mode); ``ledger`` knows what the condensed turns did."""

    def __init__(self, counter: TokenCounter, budget: int, ledger: Ledger, fixed: str = "",
                 condense: bool = True) -> None:
        self.counter, self.budget, self.ledger, self.condense = counter, budget, ledger, condense
        self._fixed_text, self._fixed = fixed, None if fixed else 0
        self.condensed: Message | None = None
        """The condensed message now in the conversation, if any."""

    @property
    def fixed(self) -> int:
        if self._fixed is None:
            self._fixed = self.counter.text(self._fixed_text)
        return self._fixed

    def tokens(self, messages: Sequence[Message]) -> int:
        return self.counter.messages(messages) + self.fixed

    def begin(self, task: str) -> None:
        self.ledger.begin(task)

    def record(self, step: Step, messages: Sequence[Message]) -> None:
        """Note what ``step`` did, with the assistant message that opened it (the latest one)."""
        if step.turn is None:
            return
        opened = next((m for m in reversed(messages) if m.role == "assistant"), None)
        if opened is not None:
            self.ledger.record(step, opened)

    def fit(self, messages: list[Message]) -> Fitted | None:
        """Condense and cut ``messages`` in place until they fit; None when they fit already (or
        condensation is off). A conversation at less than half the budget by estimate is not counted
        (the estimate is off by a quarter at worst): no tokenizer requests for short tasks."""
        if not self.condense or self.counter.rough(messages, self._fixed_text) <= self.budget // 2:
            return None
        before = self.tokens(messages)
        if before <= self.budget:
            return None
        task_at = self._task_index(messages)
        tail = self._tail(messages, task_at)
        dropped = [m for i, m in enumerate(messages[1:tail], 1) if i != task_at]
        kept = [messages[0], messages[task_at]]
        if dropped:
            latest = messages[tail:]
            room = max(64, min(self.budget // 4, self.budget - self.tokens([*kept, *latest])))
            text = self.ledger.condensed(dropped, [*kept, *latest], self.condensed, room, self.counter.text)
            self.condensed = Message("user", text)
            kept.append(self.condensed)
        kept += messages[tail:]
        shortened = self._squeeze(kept)
        messages[:] = kept
        return Fitted(len(dropped), shortened, before, self.tokens(messages), self.budget, self.counter.source)

    def _task_index(self, messages: Sequence[Message]) -> int:
        """Where the current task's message is (its text starts it; the advisor's hint may follow)."""
        task = self.ledger.tasks[-1] if self.ledger.tasks else None
        if task is not None:
            for i in range(len(messages) - 1, 0, -1):
                if messages[i].role == "user" and messages[i].content.startswith(task):
                    return i
        return next((i for i, m in enumerate(messages) if m.role == "user"), min(1, len(messages) - 1))

    def _tail(self, messages: Sequence[Message], task_at: int) -> int:
        """Where the latest turns that stay whole begin: the newest turn always (an assistant message and
        what followed it), older ones while they fit in the share of the budget a condensation leaves."""
        starts = [i for i in range(task_at + 1, len(messages)) if messages[i].role == "assistant"]
        if not starts:
            return max(task_at + 1, len(messages) - 1)
        room = int(self.budget * CONDENSE_TO) - self.tokens([messages[0], messages[task_at]]) - self.budget // 8
        tail = starts[-1]
        for start in reversed(starts[:-1]):
            if self.counter.messages(messages[start:]) > room:
                break
            tail = start
        return tail

    def _squeeze(self, kept: list[Message]) -> int:
        """Cut the largest message to its head and tail until the request fits: the condensed message and
        older observations first, then the latest message, the task last. Returns how many were cut."""
        cut: set[int] = set()
        while (over := self.tokens(kept) - self.budget) > 0:
            i = self._victim(kept)
            if i is None:
                raise TaskFailed(reason=f"the system prompt and the task alone need {self.tokens(kept)} tokens, "
                                        f"more than the {self.budget} the context window leaves; raise "
                                        "--context-window or shorten the instructions", stop="context")
            message = kept[i]
            tokens = self.counter.text(message.content)
            share = max(0.0, (tokens - over - 24) / max(tokens, 1))
            limit = min(int(len(message.content) * share), len(message.content) // 2)
            kept[i] = Message(message.role, summarise(message.content, limit) + SHORTENED, message.tool_call_id)
            if message is self.condensed:
                self.condensed = kept[i]
            cut.add(i)
        return len(cut)

    def _victim(self, kept: Sequence[Message]) -> int | None:
        def longest(indices: list[int]) -> int | None:
            fat = [i for i in indices if len(kept[i].content) > 2 * len(SHORTENED) + 80]
            return max(fat, key=lambda i: len(kept[i].content)) if fat else None

        last = len(kept) - 1
        for group in (list(range(2, last)), [last] if last >= 2 else [], [1] if last >= 1 else []):
            found = longest(group)
            if found is not None:
                return found
        return None


def tool_text(schemas: list[dict[str, Any]]) -> str:
    """The tool schemas as a chat template renders them into the prompt (native mode), near enough."""
    return json.dumps(schemas)
