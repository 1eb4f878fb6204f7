"""The interactive session: line editing and history, Ctrl-C cancels the step, Ctrl-D exits."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console

from locoder.agent.loop import Agent
from locoder.locations import StatePaths
from locoder.memory import append_note
from locoder.tools import Tool
from locoder.tools.guard import registered

HELP = """Type a task and press Enter. Follow-up tasks continue the same conversation.
  /remember NOTE   save a note for this project
  /reset           start a new conversation
  /help            this help
  Ctrl-C cancels the current step; Ctrl-D (or /exit) leaves."""


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


def run_repl(agent: Agent, state: StatePaths, console: Console) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    session: PromptSession[str] = PromptSession(history=FileHistory(str(state.history)))
    console.print(f"[bold]locoder[/] with {agent.model.name}. /help for help, Ctrl-D to exit.")
    fresh = list(agent.messages)
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
        if line == "/help":
            console.print(HELP)
        elif line == "/reset":
            agent.messages[:] = fresh
            console.print("new conversation")
        elif line.startswith("/remember"):
            note = line.removeprefix("/remember").strip()
            if note and getattr(agent, "knowledge", None) is not None:
                console.print(agent.knowledge.remember(note), soft_wrap=True, highlight=False)
            elif note:
                console.print(f"noted in {append_note(state, note)}")
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
