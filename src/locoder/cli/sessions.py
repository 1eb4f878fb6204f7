"""``locoder sessions`` (and ``/sessions`` in the session): the saved sessions; ``locoder resume [ID]``: the
interactive session with a saved one's conversation restored (``locoder run --continue TASK`` is in ``agent.py``)."""

from __future__ import annotations

import argparse

from locoder.cli.registry import Invocation, Slash, command


def _list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=20, help="how many, the most recently saved first (default: 20)")
    p.add_argument("--json", action="store_true", help="print JSON (without the conversations)")


def _row(found) -> dict:
    from locoder.agent.saved import Unreadable

    if isinstance(found, Unreadable):
        return {"id": found.id, "unreadable": found.reason, "path": str(found.path)}
    return {"id": found.id, "started": found.started, "updated": found.updated, "tasks": len(found.tasks),
            "messages": len(found.messages), "first_task": found.first_task, "outcome": found.outcome,
            "model": found.settings.get("model", ""), "path": str(found.path)}


def render_rows(rows: list[dict]) -> str:
    """One line a session: id, when it was last saved, tasks, the last task's outcome, the first task."""
    lines = [f"{'ID':<14} {'SAVED (UTC)':<17} {'TASKS':>5}  {'OUTCOME':<11} FIRST TASK"]
    for row in rows:
        if "unreadable" in row:
            lines.append(f"{row['id']:<14} unreadable: {row['unreadable']}")
            continue
        saved = row["updated"].replace("T", " ")[:16]
        lines.append(f"{row['id']:<14} {saved:<17} {row['tasks']:>5}  {row['outcome']:<11} "
                     f"{' '.join(row['first_task'].split())[:90]}")
    return "\n".join(lines)


@command("sessions", "list the saved sessions: id, time, tasks, outcome, first task", arguments=_list_arguments,
         parents=("workspace",), slash=Slash("[--limit N]"))
def sessions(args: argparse.Namespace, call: Invocation) -> int:
    import json

    from locoder.agent.saved import list_sessions

    state = call.workspace_settings(args.workspace).state_paths
    rows = [_row(found) for found in list_sessions(state)[: max(args.limit, 0)]]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
    elif not rows:
        call.console.print(f"no saved sessions yet (in {state.saved_sessions})", highlight=False, markup=False)
    else:
        call.console.print(render_rows(rows), highlight=False, markup=False, soft_wrap=True)
    return 0


def _resume_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", nargs="?", default="", help="the session's id or a prefix only it has (default: the last)")


@command("resume", "the interactive session, going on with a saved session's conversation",
         arguments=_resume_arguments, parents=("agent",))
def resume(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.cli.agent import run_agent

    args.resume = args.id
    return run_agent(args, call)
