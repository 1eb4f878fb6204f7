"""The small interfaces between layers. Implementations inherit nothing; they only match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from locoder.events import Event
from locoder.messages import Message, ModelResponse


@runtime_checkable
class Model(Protocol):
    """A chat model. ``schema`` asks for output constrained to that JSON schema when the
    backend supports it; ``tools`` offers native function calling; ``temperature`` overrides the
    configured sampling temperature for this request (the repair harness samples several candidates).

    A model may also have ``count_tokens(text) -> int``, its own tokenizer's count (llama.cpp's ``/tokenize``,
    a transformers tokenizer), raising ``BackendError`` when it cannot; it is optional (the loop asks with
    ``getattr``), and without it the loop estimates (agent/window.py)."""

    name: str

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse: ...

    def close(self) -> None: ...


class EventSink(Protocol):
    """Receives every event of a run (``locoder.events``: typed; ``event.to_dict()`` is its audit record)."""

    def emit(self, event: Event) -> None: ...


class Advice(Protocol):
    """A suggested tool: shown to the user; ``hint_text()`` is added to the model's next turn when ``hint``."""

    tool: str
    hint: bool

    def hint_text(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class Advisor(EventSink, Protocol):
    """Suggests the next tool before each model turn, and learns from the events it receives."""

    def advise(self) -> Advice | None: ...
