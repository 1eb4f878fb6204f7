"""Command line: parses, builds objects from config, calls one function. One module per command group;
each command is registered once in ``registry.COMMANDS``, the parser is built from that table and ``main``
dispatches through it. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from locoder import __version__
from locoder.cli import (  # noqa: F401 - they register their commands
    agent,
    bench,
    ctx,
    doctor,
    intel,
    memory,
    models,
    plan,
    rl,
    search,
    serve,
    sessions,
    trust,
)
from locoder.cli import changes as _changes  # noqa: F401 - undo, diff
from locoder.cli.options import DEFAULT_WORKSPACE, PARENTS, S
from locoder.cli.registry import COMMANDS, Command, Invocation, print_error
from locoder.exceptions import LocoderError

# The order of ``locoder --help``; every registered command is in it exactly once (tests/test_cli_layout.py).
ORDER = ("run", "sessions", "resume", "undo", "diff", "doctor", "trust", "models", *search.SEARCH_COMMANDS, "memory", "rl", "plan", "ctx", "intel", "bench",
         "serve")
DEFAULT = "run"  # with no command: run_agent starts the interactive session (or --once, --remember)


def build_parser() -> argparse.ArgumentParser:
    parents = {name: make() for name, make in PARENTS.items()}
    parser = argparse.ArgumentParser(
        prog="locoder",
        parents=[parents["agent"]],
        description="A local coding agent. With no command it starts an interactive session.",
        epilog="Examples:\n  locoder run \"add a --verbose flag to cli.py\"\n  locoder --remember \"tests run with make test\"\n"
               "  locoder models pull qwen2.5-coder-1.5b",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"locoder {__version__}")
    parser.add_argument("--once", metavar="TASK", default=S, help="run one task and exit (same as 'locoder run TASK')")
    parser.add_argument("--remember", metavar="NOTE", default=S, help="save a note in the project's memory and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in ORDER:
        _add(sub, COMMANDS[name], parents)
    return parser


def _add(sub, command: Command, parents: dict[str, argparse.ArgumentParser]) -> None:
    p = sub.add_parser(command.name, parents=[parents[n] for n in command.parents], help=command.help)
    if command.arguments is not None:
        command.arguments(p)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        from locoder.safety.cmdline import blank_secret_flags

        # Before anything else runs: keys given as flags must not stay readable in /proc/PID/cmdline.
        blank_secret_flags(sys.argv)
    args = build_parser().parse_args(argv)
    if "agent" not in COMMANDS[args.command or DEFAULT].parents and not hasattr(args, "workspace"):
        args.workspace = DEFAULT_WORKSPACE
    from rich.console import Console

    try:
        return COMMANDS[args.command or DEFAULT].run(args, Invocation(Console(stderr=False)))
    except LocoderError as exc:
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("locoder: interrupted")
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
