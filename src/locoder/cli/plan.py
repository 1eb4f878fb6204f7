"""``locoder plan`` (and ``/plan TASK`` in the session): a numbered plan with exact commands, saved; run
nothing unless ``--execute``."""

from __future__ import annotations

import argparse

from locoder.cli.registry import Invocation, Slash, command, text
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", help="what to plan (without it: show the last plan)")
    p.add_argument("--execute", action="store_true", help="then carry the plan out (without TASK: the last plan)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _make(task: str, settings, call: Invocation) -> dict:
    from locoder.agent import plan as planner
    from locoder.knowledge import Knowledge

    knowledge = Knowledge(settings)
    try:
        context = planner.gather_context(settings, knowledge, task)
    finally:
        knowledge.close()
    with call.model_for(settings) as model:
        steps, reply = planner.make_plan(model, task, context)
    return planner.save_plan(settings.state_paths, task, steps, reply)


@command("plan", "propose a numbered plan with exact commands; run nothing", arguments=_arguments,
         parents=("agent",), tool="plan", slash=Slash("[TASK]", text()))
def plan(args: argparse.Namespace, call: Invocation) -> int:
    import json

    from locoder.agent import plan as planner
    from locoder.agent.factory import prepare_state

    settings = call.settings(args)
    prepare_state(settings)
    if not args.task:
        made = planner.load_latest(settings.state_paths)
        if made is None:
            raise LocoderError("no saved plan: make one with locoder plan \"TASK\"")
    else:
        made = _make(args.task, settings, call)
    if args.json:
        print(json.dumps(made, indent=1))
    else:
        call.console.print(planner.render(made), highlight=False, markup=False, soft_wrap=True)
    if not args.execute:
        return 0
    if not made["steps"]:
        raise LocoderError("the plan has no steps to carry out")
    from locoder.cli.agent import run_agent

    args.task = planner.as_task(made)
    code = run_agent(args, call)
    planner.mark(made, "done" if code == 0 else f"failed (exit {code})", settings.state_paths)
    return code
