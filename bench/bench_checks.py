"""The time the automatic checks add per edit, on a small Python project (pytest and ruff), in the session's
sandbox, through the same wrapper the loop uses (``agent/finish.py`` with ``agent/checks.py``).

Run: .venv/bin/python bench/bench_checks.py [--edits 10] [--modules 20] [--tests-per-module 3]
Prints, per edit (median and p90 over --edits edits of one file): the edit alone (checks off), the edit with
the tests only, with ruff only, and with both (the default); the difference is what the checks add. Also the
one-off baseline before the task's first edit. Ends with one JSON line of every number.
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

from locoder.agent.checks import AutoChecks, CheckConfig
from locoder.agent.factory import build_sandbox
from locoder.agent.finish import FinishGate
from locoder.config import load_settings
from locoder.events import Checked, TaskStarted, ToolStarted
from locoder.messages import ToolCall
from locoder.tools import ToolBox, ToolContext, default_tools


def make_project(root: Path, modules: int, tests: int) -> None:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\nversion = '0'\n\n[tool.ruff.lint]\nselect = ['E', 'F']\n")
    for i in range(modules):
        (root / f"mod_{i}.py").write_text(f"def f_{i}(x):\n    # version 0\n    return x + {i}\n")
        body = "".join(f"\n\ndef test_f_{i}_{j}():\n    assert f_{i}({j}) == {j} + {i}\n" for j in range(tests))
        (root / "tests" / f"test_mod_{i}.py").write_text(f"from mod_{i} import f_{i}\n{body}")
    for name, target in (("python", sys.executable), ("ruff", shutil.which("ruff", path=os.path.dirname(sys.executable)))):
        script = root / ".venv" / "bin" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        script.chmod(0o755)


class LintOnly(AutoChecks):
    tests = None  # the linter alone


def measure(root: Path, edits: int, config: CheckConfig | None, lint: bool = True, tests: bool = True) -> dict:
    settings = load_settings({"workspace": str(root)}, env={"HOME": os.environ.get("HOME", "/tmp")})
    sandbox = build_sandbox(settings)
    context = ToolContext(workspace=root, sandbox=sandbox, env=sandbox.env)
    events: list = []
    checks = (AutoChecks if tests else LintOnly)(context, config, events.append) if config is not None else None
    if checks is not None and not lint:
        checks.linter = None
    gate = FinishGate(ToolBox(default_tools(), context), root, checks)
    gate.emit(TaskStarted("change mod_0"))
    seconds = []
    for n in range(edits):
        call = ToolCall("edit_file", {"path": "mod_0.py", "search": f"    # version {n}", "replace": f"    # version {n + 1}"})
        gate.emit(ToolStarted(n + 1, call))
        start = time.perf_counter()
        result = gate.execute(call)
        seconds.append(time.perf_counter() - start)
        assert result.ok, result.output
    before = [e.seconds for e in events if isinstance(e, Checked) and e.phase == "before"]
    (root / "mod_0.py").write_text("def f_0(x):\n    # version 0\n    return x + 0\n")
    # The first edit also carries the one-off baseline: per-edit figures leave it out.
    per_edit = seconds[1:] if before else seconds
    ordered = sorted(per_edit)
    return {"median_s": round(statistics.median(per_edit), 4), "p90_s": round(ordered[int(len(ordered) * 0.9) - 1], 4),
            "baseline_s": round(before[0], 4) if before else 0.0, "runner": sandbox.describe().get("runner", "?")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--tests-per-module", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        make_project(root, args.modules, args.tests_per_module)
        rows = {"edit alone (checks off)": measure(root, args.edits + 1, None),
                "edit + tests": measure(root, args.edits + 1, CheckConfig(), lint=False),
                "edit + ruff": measure(root, args.edits + 1, CheckConfig(), tests=False),
                "edit + tests + ruff (default)": measure(root, args.edits + 1, CheckConfig())}
    alone = rows["edit alone (checks off)"]["median_s"]
    tests = args.modules * args.tests_per_module
    print(f"{args.modules} modules, {tests} tests, {args.edits} edits each; runner: {rows['edit + tests']['runner']}")
    print(f"{'':32} {'median s':>9} {'p90 s':>8} {'added s':>8} {'baseline s':>11}")
    for name, row in rows.items():
        print(f"{name:32} {row['median_s']:9.3f} {row['p90_s']:8.3f} {row['median_s'] - alone:8.3f} {row['baseline_s']:11.3f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(json.dumps({"modules": args.modules, "tests": tests, "edits": args.edits, **{k: v for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
