"""The table of commands: each command is a function registered once, with the function that adds its
arguments, the shared option groups it takes, the agent tool that does the same thing, and how the
interactive session offers it as a slash command. The parser is built from this table and ``main``
dispatches through it; the REPL gets its slash commands from it too."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def words(rest: str) -> list[str]:
    """The rest of a slash command's line as shell words: ``/tree src --depth 2``."""
    return shlex.split(rest)


def text(flag: str = "") -> Callable[[str], list[str]]:
    """The whole rest of the line as one value, of ``flag`` or of the first positional argument:
    ``/esearch where are tokens counted`` (never read as flags, so ``/plan --execute`` plans that text)."""

    def argv(rest: str) -> list[str]:
        if not rest:
            return []
        return [f"{flag}={rest}"] if flag else ["--", rest]

    return argv


@dataclass(frozen=True)
class Slash:
    """How the interactive session offers a command: ``/NAME USAGE``; ``argv`` turns the rest of the line into
    the command's arguments (it raises ``ValueError`` with a usage line for what the session does not offer)."""

    usage: str = ""
    argv: Callable[[str], list[str]] = words


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Invocation], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    parents: tuple[str, ...] = ()  # names in options.PARENTS
    tool: str = ""  # the agent's tool that does the same ("" if none)
    slash: Slash | None = None  # None: not a slash command


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, **fields) -> Callable:
    """Register the decorated ``run(args, call) -> exit code`` as the command ``name`` (once)."""

    def register(run: Callable[[argparse.Namespace, Invocation], int]):
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        COMMANDS[name] = Command(name, help, run, **fields)
        return run

    return register


@dataclass
class Invocation:
    """What a command runs with. From the command line: the console only, and settings come from the flags.
    In the interactive session: the session's settings and model, which the command uses and leaves open."""

    console: Any
    session: Any = None  # the interactive session's Settings
    model: Any = None  # the interactive session's model

    def settings(self, args: argparse.Namespace):
        from locoder.cli.options import settings_from

        return self.session if self.session is not None else settings_from(args)

    def workspace_settings(self, workspace: str):
        """Settings of the workspace alone (a command's own flags, like ``--mode lexical``, are not settings)."""
        from locoder.config import load_settings

        return self.session if self.session is not None else load_settings({"workspace": str(workspace)})

    @contextmanager
    def model_for(self, settings) -> Iterator[Any]:
        """The session's model, or the configured one opened (with a progress bar) and closed afterwards."""
        if self.model is not None:
            yield self.model
            return
        from locoder.cli.options import progress
        from locoder.models import open_model

        update, stop = progress(self.console)
        try:
            model = open_model(settings, progress=update)
        finally:
            stop()
        try:
            yield model
        finally:
            model.close()


def print_error(exc: BaseException) -> None:
    """A ``LocoderError`` as the one line the user sees, on standard error."""
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]locoder:[/] {exc}", highlight=False, soft_wrap=True)
