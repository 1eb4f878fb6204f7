"""``locoder undo`` and ``locoder diff`` (``/undo``, ``/diff`` in the session): the last task's change,
reverted or shown (``locoder.changes.undo`` does the work)."""

from __future__ import annotations

import argparse

from locoder.cli.registry import Invocation, Slash, command


@command("undo", "revert the last task's change (locoder's last commit, or the checkpoint outside git)",
         parents=("workspace",), slash=Slash())
def undo(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.changes.undo import undo_last

    settings = call.workspace_settings(args.workspace)
    call.console.print(undo_last(settings.workspace_path, settings.state_paths), markup=False, highlight=False,
                       soft_wrap=True)
    return 0


@command("diff", "show what the last task changed", parents=("workspace",), slash=Slash())
def diff(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.changes.undo import last_diff

    settings = call.workspace_settings(args.workspace)
    call.console.print(last_diff(settings.workspace_path, settings.state_paths), markup=False, highlight=False,
                       soft_wrap=True, end="")
    return 0
