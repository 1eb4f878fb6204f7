"""``locoder run TASK`` (``--continue``/``--resume ID``: in a saved session's conversation), ``locoder --once
TASK``, ``locoder --remember NOTE`` and, with no command, the interactive session (which gets the slash
commands of ``cli.slash``)."""

from __future__ import annotations

import argparse

from locoder.cli import headless
from locoder.cli.options import S, progress
from locoder.cli.registry import Invocation, command
from locoder.exceptions import LocoderError


def _remember(note: str, settings, console) -> int:
    from locoder.agent.factory import prepare_state
    from locoder.knowledge import Knowledge

    prepare_state(settings)
    knowledge = Knowledge(settings)
    try:
        console.print(knowledge.remember(note), soft_wrap=True, highlight=False)
    except ValueError as exc:
        raise LocoderError(str(exc)) from None
    finally:
        knowledge.close()
    return 0


def _build(args: argparse.Namespace, settings, console, interactive: bool, out: headless.Output | None = None,
           resume=None):
    from locoder.agent.display import ConsoleView
    from locoder.agent.session import open_session

    approver = None
    if interactive:
        from locoder.agent.interactive import console_approver

        approver = console_approver(console)
    update, stop = progress(console)
    view = [ConsoleView(console, verbose=getattr(args, "verbose", False))] if out is None or out.view else []
    try:
        return open_session(settings, sinks=[*(out.sinks if out else []), *view], progress=update, approver=approver,
                            resume=resume)
    finally:
        stop()


def _saved(args: argparse.Namespace, settings, console):
    """The saved session to go on with (``--continue``, ``--resume ID``, ``locoder resume``), or None."""
    if not hasattr(args, "resume"):
        return None
    from locoder.agent.saved import find_session

    saved = find_session(settings.state_paths, args.resume)
    console.print(f"resuming session {saved.id} ({len(saved.tasks)} task(s), {len(saved.messages)} messages; "
                  f"first: {' '.join(saved.first_task.split())[:80]})", highlight=False, markup=False, soft_wrap=True)
    if saved.workspace != str(settings.workspace_path):
        console.print(f"[yellow]note:[/] it was saved for {saved.workspace}; the workspace now is "
                      f"{settings.workspace_path}", highlight=False, soft_wrap=True)
    return saved


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="what the agent should do")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--continue", dest="resume", action="store_const", const="", default=S,
                       help="go on with the last saved session's conversation (saved to it again)")
    again.add_argument("--resume", dest="resume", metavar="ID", default=S,
                       help="go on with the saved session ID (or a prefix only it has; locoder sessions lists them)")
    headless.add_arguments(p)


@command("run", "run one task to completion; exit 1 if it failed", parents=("agent",), arguments=_run_arguments)
def run_agent(args: argparse.Namespace, call: Invocation) -> int:
    """One task (``run``, ``--once``), a note (``--remember``), or without either the interactive session."""
    console = call.console
    if hasattr(args, "remember"):
        return _remember(args.remember, call.settings(args), console)
    task = getattr(args, "task", None) or getattr(args, "once", None)
    if task is not None:
        with headless.output(args, console) as out:  # bad settings are reported in the JSON stream too
            settings = call.settings(args)
            return _run_task(args, settings, task, out)
    settings = call.settings(args)
    session = _build(args, settings, console, interactive=True, resume=_saved(args, settings, console))
    try:
        from locoder.agent.interactive import run_repl
        from locoder.cli.slash import slash_commands

        commands = slash_commands(Invocation(console, session=settings, model=session.model))
        return run_repl(session, console, commands)
    finally:
        session.model.close()
        _session_summary(session, console)


def _run_task(args: argparse.Namespace, settings, task: str, out: headless.Output) -> int:
    """One task, reported as ``--json``, ``--quiet`` and ``--output-last-message`` ask."""
    session = _build(args, settings, out.console, interactive=False, out=out,
                     resume=_saved(args, settings, out.console))
    try:
        result = session.router.run(task)
        headless.finish(out, result)
        return {"submitted": 0, "cancelled": 130}.get(result.status, 1)
    finally:
        session.model.close()
        _session_summary(session, out.console if out.summary else None)


def _session_summary(session, console) -> None:
    """Print and store what the session did (also when it ends with an error or Ctrl-C)."""
    from locoder.agent.summary import render
    from locoder.events import SummaryWritten

    summary = session.summary.finish()
    session.agent.emit(SummaryWritten(summary))
    if console is not None:
        console.print(render(summary), highlight=False, markup=False, soft_wrap=True)
