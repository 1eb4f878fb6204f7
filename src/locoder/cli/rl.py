"""``locoder rl`` (and ``/rl status`` in the session): what the tool-suggesting bandit learned, reset, plot,
config init. The numbers come from ``locoder.learn.status``; this module only prints them."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.registry import Invocation, Slash, command, words
from locoder.exceptions import LocoderError

RL_SETTINGS = ["rl", "rl_epsilon", "rl_hint", "rl_cooldowns"]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["status", "reset", "plot", "config"],
                   help="status: what it learned; reset: forget it; plot: learning curves as a PNG; "
                        "config init: write its settings with comments")
    p.add_argument("sub", nargs="?", choices=["init"], help="with config: init")
    p.add_argument("--out", metavar="FILE", help="plot: the PNG (default: rl_curve.png in the state folder, .locoder by default); "
                                                "config init: the file to write (default: print it)")
    p.add_argument("--window", type=int, default=20, help="plot: steps per moving mean (default: 20)")
    p.add_argument("--json", action="store_true")


def _slash_argv(rest: str) -> list[str]:
    """The session offers the status only: a reset there would be undone when the session saves its policy."""
    argv = words(rest) or ["status"]
    if argv[0] != "status":
        raise ValueError("usage: /rl status [--json] (the other actions: locoder rl ...)")
    return argv


@command("rl", "the tool-suggesting bandit: status, reset, plot, config init", arguments=_arguments,
         parents=("workspace",), slash=Slash("status", _slash_argv))
def rl(args: argparse.Namespace, call: Invocation) -> int:
    if args.action == "config":
        return _config(args, call.console)
    settings = call.workspace_settings(args.workspace)
    if args.action == "reset":
        existed = settings.state_paths.rl_state.exists()
        settings.state_paths.rl_state.unlink(missing_ok=True)
        call.console.print("learning reset: the next session starts from no knowledge" if existed
                           else "nothing learned yet")
        return 0
    from locoder.learn.persistence import read_events

    events = read_events(settings.state_paths.rl_events)
    if args.action == "plot":
        return _plot(args, settings.state_paths, events, call.console)
    return _status(args, settings, events, call.console)


def _plot(args: argparse.Namespace, paths, events: list[dict], console) -> int:
    from locoder.learn import curves

    out = Path(args.out) if args.out else paths.rl_curve
    if not any(e.get("type") == "reward" for e in events):
        raise LocoderError(f"nothing to plot: no reward events in {paths.rl_events} yet")
    try:
        curves.plot(events, out, max(1, args.window))
    except ImportError:
        raise LocoderError("rl plot needs matplotlib: pip install 'locoder[plot]'") from None
    console.print(f"wrote {out} ({len(events)} reward events)")
    return 0


def _status(args: argparse.Namespace, settings, events: list[dict], console) -> int:
    import json
    import time

    from locoder.learn import curves, status
    from locoder.learn.persistence import load_state

    state, warning = load_state(settings.state_paths.rl_state, [])
    rows = status.tool_rows(state)
    cooling = status.cooling(state, settings.cooldowns(), time.time())
    policy = status.typical_policy(state)
    summary = curves.totals(events)
    if args.json:
        print(json.dumps({"steps": state.steps, "events": len(events), "tools": rows, "policy": policy,
                          "cooldowns": cooling, "suggestions": summary, "enabled": settings.rl,
                          "epsilon": settings.rl_epsilon, "warning": warning}, indent=1))
        return 0
    if warning:
        console.print(f"[yellow]{warning}[/]")
    if not rows:
        console.print("nothing learned yet" + ("" if settings.rl else " (learning is off: rl = false)"))
        return 0
    _print_status(state, rows, cooling, policy, summary, settings, len(events), console)
    return 0


def _print_status(state, rows, cooling, policy, summary, settings, events: int, console) -> None:
    console.print(f"{state.steps} updates, {events} reward events (alpha {state.alpha}, {state.dim} features, "
                  f"epsilon {settings.rl_epsilon}{'' if settings.rl else ', learning is off'})", highlight=False,
                  soft_wrap=True)
    for r in rows:
        mean = "-" if r["mean_reward"] is None else f"{r['mean_reward']:.2f}"
        note = f"  on cooldown for {cooling[r['tool']]}s" if r["tool"] in cooling else ""
        console.print(f"  {r['tool']:<14} {r['count']:>6} tries  mean reward {mean}{note}", highlight=False,
                      soft_wrap=True)
    if summary["steps"]:
        accuracy = "-" if summary["accuracy"] is None else f"{summary['accuracy']:.0%} of {summary['judged']} judged"
        console.print(f"suggestions: followed {summary['followed']:.0%}, accuracy {accuracy}, "
                      f"mean reward {summary['mean_reward']:.2f}", highlight=False, soft_wrap=True)
    for label, best in policy.items():
        console.print(f"policy, {label}: " + ", ".join(f"{b['tool']} ({b['expected']:.2f})" for b in best),
                      highlight=False, soft_wrap=True)


def _config(args: argparse.Namespace, console) -> int:
    from locoder.atomic import write_atomic
    from locoder.config.template import settings_toml

    if args.sub != "init":
        raise LocoderError("usage: locoder rl config init [--out FILE]")
    text = settings_toml(RL_SETTINGS, "locoder: the bandit that learns which tool helps.\n"
                                      "Put these lines in .locoder.toml (this project) or "
                                      "~/.config/locoder/config.toml (every project).")
    if not args.out:
        print(text, end="")
        return 0
    out = Path(args.out)
    if out.exists():
        raise LocoderError(f"{out} exists; choose another --out or remove it")
    write_atomic(out, text)
    console.print(f"wrote {out}")
    return 0
