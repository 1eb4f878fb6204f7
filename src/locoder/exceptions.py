"""Control-flow vocabulary of the agent, and the errors users see.

``StepInterrupt`` carries the messages the loop appends; the loop catches only that base.
Nothing here logs or prints.
"""

from __future__ import annotations

from locoder.messages import Message


class StepInterrupt(Exception):
    """Ends the current step; ``messages`` are appended to the conversation."""

    def __init__(self, *messages: Message, reason: str = "") -> None:
        super().__init__(reason or (messages[0].content if messages else ""))
        self.messages = messages
        self.reason = reason


class Submitted(StepInterrupt):
    """The model gave its final answer; the task ends (``status`` ``unverified`` when the model finished
    although the tests still fail, saying why)."""

    def __init__(self, answer: str, status: str = "submitted") -> None:
        super().__init__(reason=answer)
        self.answer = answer
        self.status = status


class TaskFailed(StepInterrupt):
    """The task ends unsuccessfully; ``stop`` names why (``repeated``, ``doom_loop``, ``unparseable``,
    ``max_steps``...), so the summary can say what to do next."""

    def __init__(self, *messages: Message, reason: str = "", stop: str = "failed") -> None:
        super().__init__(*messages, reason=reason)
        self.stop = stop


class LimitsExceeded(TaskFailed):
    """The step limit was reached."""

    def __init__(self, *messages: Message, reason: str = "") -> None:
        super().__init__(*messages, reason=reason, stop="max_steps")


class FormatError(StepInterrupt):
    """The model's output could not be turned into tool calls; the messages tell it how to fix it."""


class UserRejected(StepInterrupt):
    """The user declined an action; the model is told and continues."""


class LocoderError(Exception):
    """An error with a one-line message for the user that says what to do."""

    exit_code = 2


class ConfigError(LocoderError):
    pass


class BackendError(LocoderError):
    """The model backend failed (unreachable, HTTP error, malformed response)."""

    exit_code = 3

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ModelStoreError(LocoderError):
    """Installing, assembling or verifying a model file failed."""

    exit_code = 4


class ToolError(Exception):
    """Raised by a tool for an expected failure; becomes an error observation."""
