"""How ``locoder run`` reports, for people and for scripts: ``--json`` (the JSONL event stream alone on stdout,
the human view on stderr), ``--quiet`` (no live view: the final answer, and errors), ``--output-last-message
FILE`` (the final answer written to FILE). Colour is rich's: none when ``NO_COLOR`` is set or the output is
not a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locoder.exceptions import ConfigError, LocoderError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The output options of ``run``."""
    p.add_argument("--json", action="store_true",
                   help="write the run as JSON lines on stdout (thread, turn and item events); the rest goes to stderr")
    p.add_argument("--output-last-message", "-o", metavar="FILE",
                   help="write the final answer to FILE (empty when the task ended without one)")
    p.add_argument("--quiet", "-q", action="store_true", help="no live view: print only the final answer and errors")


@dataclass
class Output:
    """Where a run's output goes: the console of the human view, the progress bars and the summary (stderr
    with ``--json`` or ``--quiet``), the console of stdout, the JSON stream, the file for the last message."""

    console: Any
    stdout: Any
    view: bool = True
    json: Any = None
    """The ``JsonStream`` while ``--json`` writes it."""
    last_message: Path | None = None
    quiet: bool = False
    sinks: list = field(default_factory=list)

    @property
    def summary(self) -> bool:
        """Whether the session summary is printed."""
        return not self.quiet


def last_message_path(value: str | None) -> Path | None:
    """``--output-last-message``, checked before the task runs, so that its answer is never lost to a bad path."""
    if not value:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise ConfigError(f"--output-last-message {value}: is a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--output-last-message {value}: {parent} is not a writable folder")
    return path


@contextmanager
def output(args: argparse.Namespace, console) -> Iterator[Output]:
    """The run's ``Output``. With ``--json`` the stream has the process's stdout to itself: file descriptor 1
    points at stderr meanwhile, so nothing else (a library, a child process, a stray print) writes into it;
    an error that ends the run is written to the stream as an ``error`` line too."""
    from rich.console import Console

    quiet, last_message = bool(getattr(args, "quiet", False)), getattr(args, "output_last_message", None)
    if not getattr(args, "json", False):
        yield Output(Console(stderr=True) if quiet else console, console, view=not quiet,
                     last_message=last_message_path(last_message), quiet=quiet)
        return
    from locoder.agent.jsonstream import JsonStream

    sys.stdout.flush()
    saved = os.dup(1)
    stream_file = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="backslashreplace", buffering=1)
    os.dup2(2, 1)
    stream = JsonStream(stream_file)
    try:
        yield Output(Console(stderr=True), None, view=not quiet, json=stream, quiet=quiet, sinks=[stream],
                     last_message=last_message_path(last_message))
    except LocoderError as exc:
        stream.error(str(exc))
        raise
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        try:
            stream_file.close()
        except OSError:
            pass


def finish(out: Output, result) -> None:
    """After the task: ``--quiet`` prints the answer (or why there is none, on stderr); ``-o`` writes it."""
    answered = result.status in ("submitted", "unverified")
    if out.quiet and out.json is None:
        if answered:
            out.stdout.print(result.answer, markup=False, highlight=False, soft_wrap=True)
        if result.status != "submitted":
            print(f"locoder: {result.status}: {result.answer if not answered else 'the tests still fail'}",
                  file=sys.stderr)
    if out.last_message is not None:
        from locoder.atomic import write_atomic

        text = result.answer if answered else ""
        try:
            write_atomic(out.last_message, text + "\n" if text and not text.endswith("\n") else text)
        except OSError as exc:
            raise LocoderError(f"cannot write --output-last-message {out.last_message}: {exc.strerror}; "
                               "the answer is in the audit log") from None
