"""Bug-fix tasks on real projects: one injected fault, a user's report, and a scorer that runs the real suite.

A task file (``bugfix.json`` beside this module, made by ``bench/bugfix/make_tasks.py``) holds ``projects`` (pinned sdists and how to test them) and
``tasks`` (a fault, the report, the tests it breaks). ``prepare`` turns a task into what a user with that bug
would have: a git repository whose one commit already contains the faulty code (``git diff`` shows
nothing), with a ``.venv`` that runs its tests. ``score`` runs the whole suite on the agent's library code
with the project's ORIGINAL tests and says whether every test that passes on the pristine project passes.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from locoder import gitsafe
from locoder.atomic import write_atomic
from locoder.tasks.faults import Fault, apply
from locoder.tasks.projects import (
    BenchError,
    copy_venv,
    default_cache_dir,
    fetch_project,
    project_venv,
    venv_python,
)
from locoder.tasks.testrun import SuiteRun, run_suite

__all__ = ["BugTask", "ScoreResult", "load_tasks", "fetch_project", "prepare", "score", "baseline",
           "remove_tests", "BenchError", "VARIANTS"]

VARIANTS = ("present", "removed")
_EXCLUDE = ".venv/\n__pycache__/\n.pytest_cache/\n*.egg-info/\n"


@dataclass
class BugTask:
    """One fault in one pinned project, with the report a user would write about it."""

    id: str
    project: str
    version: str
    sdist: str  # the archive's file name on PyPI
    sha256: str
    fault: Fault
    text: str  # the user's report
    target_tests: list[str]  # node ids that fail with the fault and pass without it
    example: str = ""  # the report's snippet, runnable with the project importable
    test_deps: list[str] = field(default_factory=lambda: ["pytest"])
    source_root: str = ""  # the folder (relative to the project) whose contents are importable
    library: list[str] = field(default_factory=list)  # library paths the agent may change (the rest is restored)
    pytest_args: list[str] = field(default_factory=list)
    timeout: float = 300

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in ("id", "project", "fault", "text", "example", "target_tests")}
        data["fault"] = self.fault.to_dict()
        return data


def load_tasks(path: str | Path) -> list[BugTask]:
    """The tasks of a task file, each with its project's settings filled in."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    projects = data["projects"]
    tasks = []
    for item in data["tasks"]:
        spec = projects[item["project"]]
        tasks.append(BugTask(
            id=item["id"], project=item["project"], version=spec["version"], sdist=spec["sdist"],
            sha256=spec["sha256"], fault=Fault.from_dict(item["fault"]), text=item.get("text", ""),
            target_tests=list(item["target_tests"]), example=item.get("example", ""),
            test_deps=list(spec.get("test_deps", ["pytest"])), source_root=spec.get("source_root", ""),
            library=list(spec["library"]), pytest_args=list(spec.get("pytest_args", [])),
            timeout=float(spec.get("timeout", 300)),
        ))
    return tasks


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _split_id(test_id: str) -> tuple[str, str | None, str]:
    parts = test_id.split("::")
    name = parts[-1].split("[", 1)[0]
    return parts[0], parts[-2] if len(parts) > 2 else None, name


def remove_tests(text: str, tests: list[tuple[str | None, str]]) -> str:
    """``text`` (a test module) without the named test functions ``(class or None, name)``, decorators included.

    A class left with no statement gets ``pass``. Raises ``KeyError`` for a test that is not defined here.
    """
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    by_owner: dict[int, tuple[ast.AST, list[ast.stmt]]] = {}
    for owner_class, name in sorted(set(tests), key=str):
        owner = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == owner_class),
                     None) if owner_class else tree
        body = owner.body if owner is not None else []
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name),
                    None)
        if node is None:
            raise KeyError(f"{owner_class + '.' if owner_class else ''}{name} is not defined in this module")
        by_owner.setdefault(id(owner), (owner, []))[1].append(node)
    edits = []
    for owner, nodes in by_owner.values():
        needs_pass = owner is not tree and len(nodes) == len(owner.body)
        for index, node in enumerate(sorted(nodes, key=lambda n: n.lineno)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            edits.append((first, node.end_lineno, needs_pass and index == 0, node.col_offset))
    for first, last, keep_pass, col in sorted(edits, reverse=True):
        lines[first - 1:last] = [" " * col + "pass\n"] if keep_pass else []
    return "".join(lines)


def _strip_targets(task: BugTask, root: Path) -> None:
    by_file: dict[str, list[tuple[str | None, str]]] = {}
    for test_id in task.target_tests:
        path, owner, name = _split_id(test_id)
        by_file.setdefault(path, []).append((owner, name))
    for path, tests in by_file.items():
        _write(root / path, remove_tests(_read(root / path), tests))


def _git(repo: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "Maintainer", "GIT_AUTHOR_EMAIL": "maintainer@example.com",
           "GIT_COMMITTER_NAME": "Maintainer", "GIT_COMMITTER_EMAIL": "maintainer@example.com",
           "GIT_AUTHOR_DATE": "2025-01-01T12:00:00+00:00", "GIT_COMMITTER_DATE": "2025-01-01T12:00:00+00:00"}
    gitsafe.run(repo, "-c", "init.defaultBranch=main", *args, extra_env=env, check=True, timeout=120)


def prepare(task: BugTask, dest: str | Path, variant: str = "present", cache_dir: Path | None = None,
            faulty: bool = True) -> Path:
    """A git repository at ``dest`` with the project at its version and the fault committed, plus a ``.venv``.

    ``variant`` "present" keeps the failing tests; "removed" deletes them from the test files, so the suite
    passes and only the report tells of the bug. ``faulty=False`` gives the pristine project (for checks).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BenchError(f"{dest} exists and is not empty")
    pristine = fetch_project(task.project, task.version, task.sha256, cache_dir)
    shutil.copytree(pristine, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".complete"))
    if faulty:
        target = dest / task.fault.file
        _write(target, apply(_read(target), task.fault))
    if variant == "removed":
        _strip_targets(task, dest)
    _git(dest, "init", "-q")
    info = dest / ".git" / "info"
    info.mkdir(parents=True, exist_ok=True)
    with open(info / "exclude", "a", encoding="utf-8") as handle:
        handle.write(_EXCLUDE)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-verify", "-m", f"{task.project} {task.version}")
    venv = project_venv(task.project, task.version, task.test_deps, cache_dir)
    copy_venv(venv, dest / ".venv", dest / task.source_root if task.source_root else dest)
    return dest


def baseline(task: BugTask, cache_dir: Path | None = None, runs: int = 2) -> dict:
    """Which tests pass on the pristine project, every time (``passed``), and which are ``flaky`` or ``failing``.

    Computed once per project and Python, then read from the cache.
    """
    cache = cache_dir or default_cache_dir()
    venv = project_venv(task.project, task.version, task.test_deps, cache)
    path = cache / "baselines" / f"{task.project}-{task.version}-{venv.name.rsplit('-', 1)[-1]}.json"
    if path.exists():
        return json.loads(path.read_text())
    pristine = fetch_project(task.project, task.version, task.sha256, cache)
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="locoder-baseline-") as tmp:
            tree = Path(tmp) / "project"
            shutil.copytree(pristine, tree, symlinks=True)
            results.append(_run(task, tree, venv_python(venv)))
    passing = [run.with_outcome("passed") for run in results]
    stable = set.intersection(*passing)
    every = set().union(*(run.outcomes for run in results))
    data = {"project": task.project, "version": task.version, "passed": sorted(stable),
            "flaky": sorted(set.union(*passing) - stable),
            "failing": sorted(t for t in every - set.union(*passing)
                              if any(run.outcomes.get(t) in ("failed", "error") for run in results)),
            "seconds": max(run.seconds for run in results)}
    write_atomic(path, json.dumps(data, indent=1) + "\n")
    return data


def _run(task: BugTask, tree: Path, python: Path) -> SuiteRun:
    root = tree / task.source_root if task.source_root else tree
    return run_suite(python, tree, task.pytest_args, import_root=root, timeout=task.timeout)


@dataclass
class ScoreResult:
    """The verdict on a repository: solved when every test that passes on the pristine project passes."""

    solved: bool
    passed: int  # baseline tests that pass
    failed: int  # baseline tests that do not (failed, error, skipped or gone)
    total: int  # tests in the baseline
    target_passed: int
    target_total: int
    broken: list[str] = field(default_factory=list)  # baseline tests that do not pass (first 20)
    timed_out: bool = False
    detail: str = ""


def _scoring_tree(task: BugTask, repo: Path, pristine: Path, tree: Path) -> None:
    """The pristine project with the repository's library files over it: tests and configs stay original."""
    shutil.copytree(pristine, tree, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
    for item in task.library:
        ours, theirs = tree / item, repo / item
        if ours.is_dir():
            shutil.rmtree(ours)
        else:
            ours.unlink(missing_ok=True)
        if theirs.is_dir() and not theirs.is_symlink():
            shutil.copytree(theirs, ours, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif theirs.is_file() and not theirs.is_symlink():
            shutil.copy2(theirs, ours)


def _python_for(task: BugTask, repo: Path, cache_dir: Path | None) -> tuple[Path, str]:
    python = venv_python(repo / ".venv")
    try:
        ok = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return python, ""
    venv = project_venv(task.project, task.version, task.test_deps, cache_dir)
    return venv_python(venv), "the repository's .venv could not run pytest; used the cached project venv. "


def score(task: BugTask, repo: str | Path, cache_dir: Path | None = None) -> ScoreResult:
    """Run the project's original suite on ``repo``'s library code; never raises for a broken repository."""
    repo = Path(repo)
    base = baseline(task, cache_dir)
    expected = set(base["passed"])
    pristine = fetch_project(task.project, task.version, task.sha256, cache_dir)
    with tempfile.TemporaryDirectory(prefix="locoder-score-") as tmp:
        tree = Path(tmp) / "project"
        try:
            _scoring_tree(task, repo, pristine, tree)
        except OSError as exc:
            return ScoreResult(False, 0, len(expected), len(expected), 0, len(task.target_tests),
                               detail=f"could not read the repository: {exc}")
        python, note = _python_for(task, repo, cache_dir)
        run = _run(task, tree, python)
    passing = run.with_outcome("passed")
    broken = sorted(expected - passing)
    targets = [t for t in task.target_tests if t in passing]
    detail = note + (f"timed out after {task.timeout:.0f}s. " if run.timed_out else "")
    if broken:
        detail += f"{len(broken)} of {len(expected)} tests that pass on the pristine project do not pass."
        if not run.outcomes:
            detail += " No test ran; pytest said: " + run.output_tail[-1500:]
    else:
        detail += f"all {len(expected)} tests that pass on the pristine project pass."
    return ScoreResult(not broken and not run.timed_out, len(expected) - len(broken), len(broken), len(expected),
                       len(targets), len(task.target_tests), broken[:20], run.timed_out, detail)
