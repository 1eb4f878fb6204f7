"""``locoder doctor``: which protections and backends work on this machine. The probing is
``locoder.agent.doctor``; this module prints its report."""

from __future__ import annotations

import argparse

from locoder import __version__
from locoder.cli.registry import Invocation, command


def _line(console, key: str, value, warn: bool) -> None:
    console.print(f"  {key:<20} {'[yellow]' if warn else ''}{value}{'[/]' if warn else ''}", highlight=False,
                  soft_wrap=True)


@command("doctor", "show which protections and backends work on this machine", parents=("agent",))
def doctor(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.agent.doctor import machine_report

    console = call.console
    report = machine_report(call.settings(args))
    console.print(f"[bold]locoder {__version__}[/] on {report.system}, Python {report.python}")
    console.print(f"workspace: {report.workspace}")
    console.print("[bold]command sandbox[/]")
    for key, value in report.sandbox.items():
        _line(console, key, value, "NOT" in str(value) or value in ("plain", "none", "not installed"))
    for runner, described in report.other_runners.items():
        console.print(f"[bold]{runner}[/] (not active; --sandbox {runner})")
        for key, value in described.items():
            _line(console, key, value, "NOT" in str(value))
    console.print("[bold]backends[/]")
    for name, ok in report.backends.items():
        console.print(f"  {name:<20} {'available' if ok else 'not installed'}")
    for name, status in report.models.items():
        console.print(f"  model {name:<14} {status}")
    return 0
