"""Make the bug-fix task set: pinned projects, seeded faults, the tests each fault breaks, and the reports.

Two steps, both reproducible:

``python bench/bugfix/make_tasks.py candidates [--project NAME]``
    For every project in ``PROJECTS``: fetch the pinned sdist (checked by sha256), build its test venv, run
    the pristine suite (``baseline``), then try seeded faults from ``faults.sample`` one by one and keep those
    that break between 1 and 30 tests that pass on the pristine code, all as plain failures (no collection
    errors), inside a function short enough to show whole. Writes ``bench/bugfix/candidates.json`` with each
    kept fault, the tests it breaks, their failure messages and the function's text, for a person to read.

``python bench/bugfix/make_tasks.py build``
    Joins the candidates with the reports people wrote for them (``bench/bugfix/reports.json``: per id a
    ``text`` written as a user would, with the symptom and an example but never the location, and an
    ``example`` snippet that shows it) into the task file ``locoder bench`` reads by default,
    ``src/locoder/tasks/bugfix.json``. A candidate without a report is left out.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from locoder.atomic import write_atomic
from locoder.tasks import faults
from locoder.tasks.bugfix import BugTask, baseline, load_tasks, remove_tests
from locoder.tasks.projects import fetch_project, project_venv, venv_python
from locoder.tasks.testrun import run_suite

HERE = Path(__file__).resolve().parent
CANDIDATES = HERE / "candidates.json"
REPORTS = HERE / "reports.json"
TASK_FILE = HERE.parent.parent / "src" / "locoder" / "tasks" / "bugfix.json"
SEED = 20261206
PER_PROJECT = 6
TRIES = 40
MAX_BROKEN = 30
MAX_FUNCTION_LINES = 60

# Each: version, sdist file name, sha256, the importable folder, the library paths faults go into (and the
# agent's changes are scored from), the files faults are drawn from, pytest arguments, test dependencies.
PROJECTS: dict[str, dict] = {
    "boltons": {
        "version": "26.2.0", "sdist": "boltons-26.2.0.tar.gz",
        "sha256": "d39cfd15c1a1c3bd4d705c82252fa9edb8e4f5e8cc039f8e39afac7b1b47e92c",
        "source_root": "", "library": ["boltons"], "pytest_args": ["tests"],
        "fault_files": ["boltons/strutils.py", "boltons/iterutils.py", "boltons/listutils.py",
                        "boltons/mathutils.py", "boltons/setutils.py", "boltons/dictutils.py",
                        "boltons/timeutils.py", "boltons/queueutils.py"],
    },
    "cachetools": {
        "version": "8.0.3", "sdist": "cachetools-8.0.3.tar.gz",
        "sha256": "79245d0d90464e29355f13658cd769e57d98ed06242d3c6fbd71796ca0938ef9",
        "source_root": "src", "library": ["src/cachetools"], "pytest_args": ["tests"],
        "fault_files": ["src/cachetools/__init__.py", "src/cachetools/keys.py", "src/cachetools/_cached.py"],
    },
    "funcy": {
        "version": "2.1", "sdist": "funcy-2.1.tar.gz",
        "sha256": "8979feb3de7120afd1d00e5a8eae810c1942e4bfbc91697151e9ee1e49f79284",
        "source_root": "", "library": ["funcy"], "pytest_args": ["tests"], "test_deps": ["pytest", "whatever"],
        "fault_files": ["funcy/seqs.py", "funcy/colls.py", "funcy/strings.py", "funcy/calc.py",
                        "funcy/funcs.py", "funcy/flow.py", "funcy/tree.py"],
    },
    "isodate": {
        "version": "0.7.2", "sdist": "isodate-0.7.2.tar.gz",
        "sha256": "4cd1aa0f43ca76f4a6c6c0292a85f40b35ec2e43e315b59f06e6d32171a953e6",
        "source_root": "src", "library": ["src/isodate"], "pytest_args": ["tests"],
        "fault_files": ["src/isodate/duration.py", "src/isodate/isodates.py", "src/isodate/isotime.py",
                        "src/isodate/isoduration.py", "src/isodate/isotzinfo.py", "src/isodate/isostrf.py"],
    },
    "parse": {
        "version": "1.22.4", "sdist": "parse-1.22.4.tar.gz",
        "sha256": "706d458feed5a81b02768d3156e8070baf6cee7d150a3a3c0cd43101a875c3b5",
        "source_root": "", "library": ["parse"], "pytest_args": ["tests"],
        "fault_files": ["parse/__init__.py"],
    },
    "pathspec": {
        "version": "1.1.1", "sdist": "pathspec-1.1.1.tar.gz",
        "sha256": "17db5ecd524104a120e173814c90367a96a98d07c45b2e10c2f3919fff91bf5a",
        "source_root": "", "library": ["pathspec"], "pytest_args": ["tests"],
        "fault_files": ["pathspec/util.py", "pathspec/pathspec.py", "pathspec/gitignore.py",
                        "pathspec/pattern.py"],
    },
    "semver": {
        "version": "3.2.0", "sdist": "semver-3.2.0.tar.gz",
        "sha256": "adf2c822d2d8908a1dce0121da7da6511851fbd33080e61da8d2ba1e0677e8f3",
        "source_root": "src", "library": ["src/semver"], "pytest_args": ["tests"],
        "fault_files": ["src/semver/version.py", "src/semver/_deprecated.py"],
    },
    "webcolors": {
        "version": "25.10.0", "sdist": "webcolors-25.10.0.tar.gz",
        "sha256": "62abae86504f66d0f6364c2a8520de4a0c47b80c03fc3a5f1815fedbef7c19bf",
        "source_root": "src", "library": ["src/webcolors"], "pytest_args": ["tests"],
        "fault_files": ["src/webcolors/_conversion.py", "src/webcolors/_normalization.py",
                        "src/webcolors/_html5.py"],
    },
}


def _spec_task(name: str, fault: faults.Fault | None = None, target: list[str] | None = None) -> BugTask:
    spec = PROJECTS[name]
    return BugTask(id=name, project=name, version=spec["version"], sdist=spec["sdist"], sha256=spec["sha256"],
                   fault=fault or faults.Fault("", "", 1, 0, 1, 0, "", ""), text="", target_tests=target or [],
                   source_root=spec["source_root"], library=list(spec["library"]),
                   pytest_args=list(spec["pytest_args"]), test_deps=list(spec.get("test_deps", ["pytest"])))


def _function_at(text: str, line: int) -> tuple[str, int, int] | None:
    """The innermost function around ``line``: (name, first line, last line), or None at module level."""
    best = None
    for node in ast.walk(ast.parse(text)):
        inside = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno
        if inside and (best is None or node.lineno >= best[1]):
            best = (node.name, node.lineno, node.end_lineno)
    return best


def _removable(pristine: Path, tests: list[str]) -> bool:
    """Whether every test is defined in its own module (the "removed" variant deletes it there)."""
    by_file: dict[str, list[tuple[str | None, str]]] = {}
    for test_id in tests:
        parts = test_id.split("::")
        by_file.setdefault(parts[0], []).append((parts[-2] if len(parts) > 2 else None,
                                                 parts[-1].split("[", 1)[0]))
    try:
        for path, named in by_file.items():
            remove_tests((pristine / path).read_text(encoding="utf-8"), named)
    except (KeyError, OSError, SyntaxError):
        return False
    return True


def _try_fault(task: BugTask, pristine: Path, fault: faults.Fault, passed: set[str]) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="locoder-candidate-") as tmp:
        tree = Path(tmp) / "project"
        shutil.copytree(pristine, tree, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
        target = tree / fault.file
        target.write_text(faults.apply(target.read_text(encoding="utf-8"), fault), encoding="utf-8")
        venv = project_venv(task.project, task.version, task.test_deps)
        root = tree / task.source_root if task.source_root else tree
        run = run_suite(venv_python(venv), tree, task.pytest_args, import_root=root, timeout=task.timeout)
    if run.timed_out or not run.outcomes:
        return {"why": "the suite did not run"}
    broken = sorted(t for t in passed if run.outcomes.get(t) != "passed")
    if not 1 <= len(broken) <= MAX_BROKEN:
        return {"why": f"{len(broken)} tests broken"}
    if any(run.outcomes.get(t) != "failed" for t in broken):
        return {"why": "errors, not failures"}
    if not _removable(pristine, broken):
        return {"why": "a broken test is inherited, so the removed variant could not remove it"}
    return {"broken": broken, "messages": {t: run.messages.get(t, "") for t in broken}}


def candidates(names: list[str]) -> None:
    found = json.loads(CANDIDATES.read_text()) if CANDIDATES.exists() else {}
    for name in names:
        task = _spec_task(name)
        pristine = fetch_project(task.project, task.version, task.sha256)
        passed = set(baseline(task)["passed"])
        pool = []
        for rel in PROJECTS[name]["fault_files"]:
            text = (pristine / rel).read_text(encoding="utf-8")
            pool += [f for f in faults.sites(text, rel) if faults.changes_code(text, f)]
        kept = []
        for index, fault in enumerate(faults.sample(pool, TRIES, SEED)):
            text = (pristine / fault.file).read_text(encoding="utf-8")
            function = _function_at(text, fault.line)
            if function is None or function[2] - function[1] + 1 > MAX_FUNCTION_LINES:
                continue
            outcome = _try_fault(task, pristine, fault, passed)
            print(f"{name} {index:2d} {fault.describe()}: {outcome.get('why', 'kept')}", flush=True)
            if "why" in outcome:
                continue
            lines = text.splitlines()
            kept.append({"id": f"{name}-{len(kept) + 1:02d}", "project": name, "fault": fault.to_dict(),
                         "target_tests": outcome["broken"], "messages": outcome["messages"],
                         "function": function[0],
                         "source": "\n".join(lines[function[1] - 1:function[2]])})
            if len(kept) == PER_PROJECT:
                break
        found[name] = kept
        write_atomic(CANDIDATES, json.dumps(found, indent=1) + "\n")


def _example_output(task: BugTask, pristine: Path, example: str, faulty: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="locoder-example-") as tmp:
        tree = Path(tmp) / "project"
        shutil.copytree(pristine, tree, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
        if faulty:
            target = tree / task.fault.file
            target.write_text(faults.apply(target.read_text(encoding="utf-8"), task.fault), encoding="utf-8")
        root = tree / task.source_root if task.source_root else tree
        venv = project_venv(task.project, task.version, task.test_deps)
        done = subprocess.run([str(venv_python(venv)), "-c", example], cwd=tmp, capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})
        return (done.stdout + "".join(done.stderr.strip().splitlines()[-1:])).strip()


def check() -> int:
    """Run every report's example on the pristine and the faulty code: the outputs must differ."""
    bad = 0
    for task in load_tasks(TASK_FILE):
        if not task.example:
            print(f"{task.id}: no example")
            continue
        pristine = fetch_project(task.project, task.version, task.sha256)
        good, broken = (_example_output(task, pristine, task.example, faulty) for faulty in (False, True))
        same = good == broken
        bad += same
        print(f"{task.id}: {'SAME' if same else 'differs'}\n  pristine: {good!r}\n  faulty:   {broken!r}")
    return 1 if bad else 0


def build() -> None:
    found = json.loads(CANDIDATES.read_text())
    reports = json.loads(REPORTS.read_text())
    projects = {name: {k: v for k, v in spec.items() if k != "fault_files"} for name, spec in PROJECTS.items()}
    tasks = []
    for name in PROJECTS:
        for item in found.get(name, []):
            report = reports.get(item["id"])
            if not report:
                continue
            described = faults.Fault.from_dict(item["fault"]).describe()
            if report.get("fault", described) != described:
                raise SystemExit(f"{item['id']}: the report was written for {report['fault']}, not {described}")
            tasks.append({"id": item["id"], "project": name, "fault": item["fault"], "text": report["text"],
                          "example": report.get("example", ""), "target_tests": item["target_tests"]})
    write_atomic(TASK_FILE, json.dumps({"projects": projects, "tasks": tasks}, indent=1) + "\n")
    print(f"{len(tasks)} tasks over {len({t['project'] for t in tasks})} projects -> {TASK_FILE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="step", required=True)
    one = sub.add_parser("candidates")
    one.add_argument("--project", action="append", choices=sorted(PROJECTS))
    sub.add_parser("build")
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.step == "candidates":
        candidates(args.project or list(PROJECTS))
    elif args.step == "check":
        return check()
    else:
        build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
