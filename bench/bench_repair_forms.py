"""Which repair form the embedded model does best: the bug-fix harness's own code, one attempt per form.

For each bug-fix task (failing tests present), the harness reproduces and localises once (``FixWorkflow``),
then for each form asks the model for one repair of the top candidate at temperature 0 (one round, no
feedback), scores the repository with the task's scorer (the original tests, the whole suite), and restores
it. So the forms see the same evidence and the same function; only the way of writing the repair differs.
Also reported: how often localisation put the faulty function first, and in the top 3.

Run: ``.venv/bin/python bench/bench_repair_forms.py --model http://127.0.0.1:8765/v1 [--limit N]
[--forms fenced,function,search_replace,diff] [--tasks FILE]``. A running OpenAI-compatible server with the model
is required (``locoder serve`` starts the embedded one). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from locoder.agent.factory import build_agent
from locoder.agent.fix import FixConfig, FixWorkflow
from locoder.bench.runner import default_tasks_file
from locoder.config import load_settings
from locoder.repair.failures import PYTEST_ARGS
from locoder.tasks.bugfix import load_tasks, prepare, score
from locoder.tools.tests import project_python

FORMS = ("fenced", "function", "search_replace", "diff")


def fault_function(task, repo: Path) -> str:
    from locoder.repair.localise import definitions

    text = (repo / task.fault.file).read_text(encoding="utf-8")
    inside = [d for d in definitions(task.fault.file, text) if d.start <= task.fault.line <= d.end]
    return min(inside, key=lambda d: d.end - d.start).key if inside else ""


def one_task(task, model_url: str, forms: list[str], work: Path) -> dict:
    repo = prepare(task, work / "repo", "present")
    settings = load_settings({"workspace": str(repo), "model": model_url, "temperature": 0.0, "memory": False,
                              "rl": False}, env={k: v for k, v in os.environ.items() if not k.startswith("LOCODER_")})
    router = build_agent(settings)
    agent = router.agent
    try:
        flow = FixWorkflow(agent, repo, settings.state_paths, project_python(repo),
                           FixConfig(rounds=1))
        start = time.monotonic()
        repro = flow.reproduce(task.text)
        candidates = flow.localise(task.text, repro) if repro.targets else []
        localise_seconds = time.monotonic() - start
        truth = fault_function(task, repo)
        keys = [c.definition.key for c in candidates]
        row = {"task": task.id, "kind": task.fault.kind, "targets": len(repro.targets),
               "fault_rank": keys.index(truth) + 1 if truth in keys else None, "localise_seconds": round(localise_seconds, 1),
               "forms": {}}
        if not candidates:
            return row
        for form in forms:
            flow.config.form = form
            t0, usage0 = time.monotonic(), agent.usage.completion_tokens
            ok, _ = flow.attempt(task.text, repro, candidates[0], 0.0)
            flow._touched.clear()
            solved = score(task, repo).solved if ok else False
            row["forms"][form] = {"passed_tests": ok, "solved": solved, "seconds": round(time.monotonic() - t0, 1),
                                  "generated": agent.usage.completion_tokens - usage0}
            # Back to the faulty code for the next form.
            faulty = work / "faulty"
            if not faulty.exists():
                prepare(task, faulty, "present")
            shutil.copy2(faulty / task.fault.file, repo / task.fault.file)
        return row
    finally:
        agent.model.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an OpenAI-compatible server, e.g. http://127.0.0.1:8765/v1")
    parser.add_argument("--tasks", default=str(default_tasks_file()))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--out", default="", help="append each task's row to this JSONL file (resumable)")
    args = parser.parse_args()
    forms = [f for f in args.forms.split(",") if f]
    tasks = [t for t in load_tasks(args.tasks) if t.text]
    tasks = tasks[: args.limit] if args.limit else tasks
    done = {}
    if args.out and Path(args.out).exists():
        for line in Path(args.out).read_text().splitlines():
            row = json.loads(line)
            done[row["task"]] = row
    load = os.getloadavg()[0]
    rows = []
    for task in tasks:
        if task.id in done:
            rows.append(done[task.id])
            continue
        with tempfile.TemporaryDirectory(prefix="locoder-forms-") as tmp:
            row = one_task(task, args.model, forms, Path(tmp))
        rows.append(row)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
        print(task.id, row.get("fault_rank"), {f: v["solved"] for f, v in row["forms"].items()}, flush=True)
    ranked = [r["fault_rank"] for r in rows]
    summary = {"tasks": len(rows), "load_start": load, "load_end": os.getloadavg()[0],
               "fault_first": sum(r == 1 for r in ranked), "fault_top3": sum(r is not None and r <= 3 for r in ranked),
               "forms": {}}
    print(f"\n{len(rows)} tasks; the faulty function ranked first {summary['fault_first']}, in the top 3 "
          f"{summary['fault_top3']} (pytest args: {PYTEST_ARGS})")
    print(f"{'form':<16}{'solved':>8}{'tests pass':>12}{'median s':>10}{'tokens':>9}")
    for form in forms:
        cells = [r["forms"][form] for r in rows if form in r["forms"]]
        solved = sum(c["solved"] for c in cells)
        summary["forms"][form] = {"solved": solved, "of": len(rows), "tests_pass": sum(c["passed_tests"] for c in cells),
                                  "median_seconds": statistics.median([c["seconds"] for c in cells]) if cells else 0,
                                  "generated": sum(c["generated"] for c in cells)}
        f = summary["forms"][form]
        print(f"{form:<16}{solved:>5}/{len(rows):<3}{f['tests_pass']:>10}{f['median_seconds']:>10.1f}{f['generated']:>9}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
