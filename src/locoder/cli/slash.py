"""The interactive session's slash commands, made from the command table: ``/grep REGEX`` runs the ``grep``
command with the session's workspace, settings and model, and prints what ``locoder grep REGEX`` prints.
The session (``agent/interactive.py``) gets them as a table and never imports the CLI."""

from __future__ import annotations

import argparse
from functools import partial

from locoder.cli.options import PARENTS
from locoder.cli.registry import COMMANDS, Command, Invocation, print_error
from locoder.exceptions import LocoderError


def slash_commands(call: Invocation) -> dict:
    """``name -> SlashCommand`` for every command that has a slash form; ``call`` holds the session's settings."""
    from locoder.agent.interactive import SlashCommand

    return {c.name: SlashCommand(c.name, c.slash.usage, c.help, c.tool, partial(run_slash, command_parser(c), c, call))
            for c in COMMANDS.values() if c.slash is not None}


def command_parser(command: Command) -> argparse.ArgumentParser:
    """The parser of one command alone, as ``locoder NAME`` has it (so errors and ``--help`` read the same)."""
    parser = argparse.ArgumentParser(prog=f"locoder {command.name}", parents=[PARENTS[n]() for n in command.parents])
    if command.arguments is not None:
        command.arguments(parser)
    return parser


def run_slash(parser: argparse.ArgumentParser, command: Command, call: Invocation, rest: str) -> int:
    """Run ``command`` with the rest of the slash line; errors are printed as the command line prints them."""
    try:
        argv = command.slash.argv(rest.strip())
    except ValueError as exc:  # a usage line, or shell words that do not close
        call.console.print(str(exc), highlight=False, markup=False)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage and the error, or the help
        return exc.code if isinstance(exc.code, int) else 2
    args.workspace = str(call.session.workspace_path)
    try:
        return command.run(args, call)
    except LocoderError as exc:
        print_error(exc)
        return exc.exit_code
