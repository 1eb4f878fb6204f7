"""Running a project's pytest suite in a subprocess and reading every test's outcome, typed.

A tiny pytest plugin (written to a temporary folder, loaded with ``-p``) records each test's node id,
outcome and failure message as JSON lines, so nothing is parsed back out of pytest's terminal output. The
run has its own process group and a timeout that kills the whole group; a suite that cannot even start
(a broken interpreter, a syntax error at import) is a result with no outcomes, never an exception.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN = '''
import json, os

_PATH = os.environ["LOCODER_OUTCOMES"]


def _write(nodeid, when, outcome, report):
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = crash.message if crash is not None else (str(report.longrepr) if report.failed else "")
    with open(_PATH, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": nodeid, "when": when, "outcome": outcome,
                                 "message": message[:500]}) + "\\n")


def pytest_runtest_logreport(report):
    if report.failed:
        _write(report.nodeid, report.when, "failed", report)
    elif report.skipped:
        _write(report.nodeid, report.when, "xfailed" if hasattr(report, "wasxfail") else "skipped", report)
    elif report.when == "call":
        _write(report.nodeid, report.when, "passed", report)


def pytest_collectreport(report):
    if report.failed:
        _write(report.nodeid, "collect", "error", report)
'''

# Outcomes later in this list win when a test reports several phases (a call that passed, a teardown that failed).
_RANK = ["skipped", "xfailed", "passed", "failed", "error"]


@dataclass
class SuiteRun:
    """What one run of a suite gave: each test's outcome (``passed``, ``failed``, ``error``, ``skipped``...)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    output_tail: str = ""

    def with_outcome(self, outcome: str) -> set[str]:
        return {test for test, found in self.outcomes.items() if found == outcome}


def _environment(plugin_dir: Path, outcomes: Path, import_root: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "VIRTUAL_ENV"))}
    paths = [str(plugin_dir)] + ([str(import_root)] if import_root else [])
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", LOCODER_OUTCOMES=str(outcomes))
    return env


def run_suite(python: Path, cwd: Path, args: list[str] | None = None, *, import_root: Path | None = None,
              timeout: float = 300) -> SuiteRun:
    """Run ``python -m pytest`` in ``cwd`` (``import_root`` first on the import path) and collect outcomes."""
    with tempfile.TemporaryDirectory(prefix="locoder-pytest-") as tmp:
        plugin_dir = Path(tmp)
        (plugin_dir / "locoder_outcomes.py").write_text(PLUGIN)
        outcomes_file = plugin_dir / "outcomes.jsonl"
        command = [str(python), "-m", "pytest", "-p", "locoder_outcomes", "-p", "no:cacheprovider",
                   "-o", "addopts=", "-q", "--color=no", *(args or [])]
        run = SuiteRun()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(command, cwd=cwd, env=_environment(plugin_dir, outcomes_file, import_root),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as exc:
            run.output_tail = f"could not start {python}: {exc}"
            return run
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            output = b""
        finally:
            _kill_group(proc)
        run.seconds = time.monotonic() - start
        run.returncode = None if run.timed_out else proc.returncode
        run.output_tail = output.decode("utf-8", "replace")[-4000:]
        _read_outcomes(outcomes_file, run)
    return run


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_outcomes(path: Path, run: SuiteRun) -> None:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the timeout kill
        test, outcome = record["id"], record["outcome"]
        if outcome == "failed" and record["when"] != "call":
            outcome = "error"
        previous = run.outcomes.get(test)
        if previous is None or _RANK.index(outcome) > _RANK.index(previous):
            run.outcomes[test] = outcome
            if record.get("message"):
                run.messages[test] = record["message"]
