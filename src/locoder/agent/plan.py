"""``locoder plan``: a short numbered plan with the exact commands or edits, made from what locoder knows
about the repository (repo map, code search, memories, docs, the log digest), without running anything.

Plans are saved in ``<state>/plans/`` (and ``latest.json``), so a later session can show or carry out the
last one; ``--execute`` hands the plan to the agent loop as its task.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from locoder.config import Settings
from locoder.locations import StatePaths

PROMPT = (
    "You are planning, not acting: nothing will be run now. Write a short plan, 3 to 7 numbered steps, for "
    "the task below. Each step says exactly what to do: the command to run (in backticks), or the file to "
    "change and the change to make. Use the repository context. Reply with the numbered steps only.\n\n"
    "Example:\n1. Read `src/app/config.py` to see how settings are loaded.\n"
    "2. In `src/app/config.py`, add a `timeout: int = 30` field to `Settings`.\n"
    "3. Run `pytest tests/test_config.py -q`."
)
STEP = re.compile(r"^\s*(?:step\s*)?(\d+)[.):]\s+(.*)$", re.I)


def gather_context(settings: Settings, knowledge, task: str) -> str:
    """What the planner is shown: memories, docs, the repo map, code hits and the logs' key events."""
    from locoder.agent.knowledge import TaskContext
    from locoder.index.search import search
    from locoder.index.store import CodeIndex

    parts: list[str] = []
    index = CodeIndex(settings.workspace_path, settings.state_paths)
    try:
        index.update()
        parts.append(TaskContext(settings, knowledge, lambda event: None)(task, index))
        hits = search(index, task, k=6, mode="lexical")
        if hits:
            parts.append("Code that matches the task:\n" + "\n".join(
                f"- {h.path}:{h.start}-{h.end} {h.kind} {h.qualname}".rstrip() for h in hits))
    except ValueError:
        pass
    finally:
        index.close()
    logs = settings.workspace_path / "logs"
    if logs.is_dir():
        from locoder.logs.digest import build_digest, render

        digest = build_digest(["logs"], settings.workspace_path).as_dict()
        if digest["events"]:
            parts.append("Key events in logs/:\n" + render(digest, 300))
    return "\n\n".join(p for p in parts if p)


def parse_steps(text: str) -> list[str]:
    """The numbered steps of a reply; lines that follow a step belong to it."""
    steps: list[str] = []
    for line in text.splitlines():
        m = STEP.match(line)
        if m:
            steps.append(m.group(2).strip())
        elif steps and line.strip() and not line.lstrip().startswith("```"):
            steps[-1] += " " + line.strip()
    return steps


def make_plan(model, task: str, context: str) -> tuple[list[str], str]:
    from locoder.messages import Message

    prompt = f"{PROMPT}\n\nRepository context:\n{context or '(nothing known yet)'}\n\nTask: {task}"
    reply = (model.query([Message("user", prompt)]).content or "").strip()
    return parse_steps(reply), reply


def save_plan(state: StatePaths, task: str, steps: list[str], reply: str) -> dict:
    from locoder.atomic import write_atomic

    plan = {"task": task, "steps": steps, "reply": reply, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": "proposed"}
    folder = state.plans
    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + ".json"
    plan["file"] = str(folder / name)
    write_atomic(folder / name, json.dumps(plan, indent=1) + "\n")
    write_atomic(state.latest_plan, json.dumps(plan, indent=1) + "\n")
    return plan


def load_latest(state: StatePaths) -> dict | None:
    try:
        from locoder.regular_files import read_text

        plan = json.loads(read_text(state.latest_plan))
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) and plan.get("steps") else None


def mark(plan: dict, status: str, state: StatePaths) -> None:
    from locoder.atomic import write_atomic

    plan["status"] = status
    for path in (Path(plan["file"]), state.latest_plan):
        try:
            write_atomic(path, json.dumps(plan, indent=1) + "\n")
        except OSError:
            pass


def as_task(plan: dict) -> str:
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(plan["steps"], 1))
    return f"{plan['task']}\n\nFollow this plan, one step at a time, and check each step's result:\n{steps}"


def render(plan: dict) -> str:
    lines = [f"plan for: {plan['task']}"]
    lines += [f"  {i}. {s}" for i, s in enumerate(plan["steps"], 1)] or ["  (the model proposed no numbered steps)"]
    lines.append(f"saved in {plan.get('file', '')} ({plan.get('status', 'proposed')}); "
                 "carry it out with: locoder plan --execute")
    return "\n".join(lines)
