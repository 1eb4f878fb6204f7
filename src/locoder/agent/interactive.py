"""The interactive session: line editing and history, Ctrl-C cancels the step, Ctrl-D exits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console

from locoder.tools import Tool
from locoder.tools.guard import registered

if TYPE_CHECKING:
    from locoder.agent.session import Session

HELP = """Type a task and press Enter. Follow-up tasks continue the same conversation.
  /remember NOTE   save a note for this project
  /reset           start a new conversation
  /help            this help
  Ctrl-C cancels the current step; Ctrl-D (or /exit) leaves."""


@dataclass(frozen=True)
class SlashCommand:
    """A command the session offers as ``/NAME USAGE`` (the CLI makes them from its command table: the same
    function as ``locoder NAME``, so the same output). ``run`` gets the rest of the line."""

    name: str
    usage: str
    help: str
    tool: str  # the agent's tool that does the same ("" if none)
    run: Callable[[str], object]


def help_text(commands: Mapping[str, SlashCommand]) -> str:
    """The session's help: its own commands, then each slash command with the tool that does the same."""
    if not commands:
        return HELP
    head, _, tail = HELP.rpartition("\n")
    rows = [(f"/{c.name} {c.usage}".rstrip(), c.help, c.tool) for c in commands.values()]
    width = max(len(r[0]) for r in rows)
    lines = [f"  {use:<{width}}  {text}" + (f" [tool: {tool}]" if tool else "") for use, text, tool in rows]
    return "\n".join([head, "The commands of locoder COMMAND, with the same output (and the agent's tool that does "
                      "the same):", *lines, tail])


def console_approver(console: Console, tools: Mapping[str, Tool] | None = None):
    """Ask the user before a change or a command: the exact command or diff, highlighted as the tool says it
    reads (``Tool.syntax``), then y / n / a(lways). ``tools``: the session's (default: the registered ones)."""
    from rich.syntax import Syntax

    def approve(call, preview: str) -> str:
        console.print(f"[bold yellow]approve {call.name}?[/]")
        tool = tools.get(call.name) if tools is not None else registered(call.name)
        console.print(Syntax(preview, tool.syntax if tool is not None else "text", word_wrap=True))
        while True:
            try:
                answer = console.input("[bold]run it? [y]es / [n]o / [a]lways: [/]").strip().lower()
            except EOFError:
                return "no"
            if answer in ("y", "yes"):
                return "yes"
            if answer in ("n", "no", ""):
                return "no"
            if answer in ("a", "always"):
                return "always"

    return approve


def run_repl(run: Session, console: Console, commands: Mapping[str, SlashCommand] | None = None) -> int:
    """Read tasks and slash commands until Ctrl-D or /exit. ``commands``: the slash commands beyond the
    session's own (/remember, /reset, /help), by name."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    agent = run.router
    session: PromptSession[str] = PromptSession(history=FileHistory(str(run.state.history)))
    console.print(f"[bold]locoder[/] with {agent.model.name}. /help for help, Ctrl-D to exit.")
    fresh = agent.messages[:1]  # the system prompt: /reset also leaves a resumed conversation
    commands = commands or {}
    while True:
        try:
            line = session.prompt("locoder> ").strip()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not line:
            continue
        if line in ("/exit", "/quit"):
            break
        name, _, rest = line[1:].partition(" ") if line.startswith("/") else ("", "", "")
        if line == "/help":
            console.print(help_text(commands), highlight=False, markup=False, soft_wrap=True)
        elif name in commands:
            _slash(commands[name], rest, console)
        elif line == "/reset":
            agent.messages[:] = fresh
            console.print("new conversation")
        elif line.startswith("/remember"):
            note = line.removeprefix("/remember").strip()
            if note:
                console.print(run.knowledge.remember(note), soft_wrap=True, highlight=False)
            else:
                console.print("usage: /remember NOTE")
        elif line.startswith("/"):
            console.print(f"unknown command {line.split()[0]}; /help lists them")
        else:
            result = agent.run(line)
            if result.status == "cancelled":
                console.print("[yellow]step cancelled; the session goes on[/]")
    console.print("bye")
    return 0


def _slash(command: SlashCommand, rest: str, console: Console) -> None:
    try:
        command.run(rest)
    except KeyboardInterrupt:
        console.print(f"[yellow]/{command.name} interrupted; the session goes on[/]")
