"""Keeping the conversation inside the context window: observation summaries and compaction."""

from __future__ import annotations

from locoder.messages import Message

CHARS_PER_TOKEN = 3.2  # conservative for code with BPE tokenizers


def summarise(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit // 3) :]
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters omitted] ...\n{tail}"


def estimate_tokens(messages: list[Message]) -> int:
    return int(sum(len(m.content) + 16 for m in messages) / CHARS_PER_TOKEN)


def compact(messages: list[Message], budget_tokens: int) -> int:
    """Shrink the oldest turns in place until the estimate fits ``budget_tokens``. The system prompt,
    the first task and the last two messages are kept whole. Compaction goes down to 70% of the
    budget so it happens rarely: each one invalidates the server's prompt cache past that point.
    Returns how many messages were shortened."""
    if estimate_tokens(messages) <= budget_tokens:
        return 0
    target = int(budget_tokens * 0.7)
    shortened = 0
    first_user = next((i for i, m in enumerate(messages) if m.role == "user"), 0)
    for i in range(first_user + 1, len(messages) - 2):
        if estimate_tokens(messages) <= target:
            break
        message = messages[i]
        if len(message.content) > 200:
            messages[i] = Message(message.role, summarise(message.content, 200) + "\n[shortened to fit the context]")
            shortened += 1
    return shortened
