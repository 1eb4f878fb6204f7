"""run_tests: find how the project runs its tests, run them in the sandbox, and report the counts.

The one reader of test runners' output: ``parse_test_run`` turns it into ``TestCounts``, which the command
tools (run_tests, run_command) hand on as typed data; nothing else parses their text.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from locoder.exceptions import ToolError
from locoder.messages import CommandRun, TestCounts
from locoder.regular_files import read_text
from locoder.sandbox import CommandResult
from locoder.tools.base import ToolContext, ToolOutput, tool

TEST_COMMAND = re.compile(r"\b(pytest|py\.test|unittest|(npm|yarn|pnpm)( run)? test|go test|cargo test|make (test|check)|"
                          r"tox|nox|scripts/test|mvn test|gradle test|jest|vitest|ctest)\b")
"""Command lines that run tests."""
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+)|^--- FAIL: (\S+)|^test (\S+) \.\.\. FAILED", re.M)
"""A failing test named in a runner's output: pytest's summary lines, go's, unittest's verbose lines."""


def parse_test_counts(output: str) -> tuple[int, int] | None:
    """(passed, failed) from a test runner's output: pytest, unittest, cargo, go, jest/vitest."""
    if m := re.search(r"test result: \w+\. (\d+) passed; (\d+) failed", output):  # cargo
        return int(m.group(1)), int(m.group(2))
    if m := re.search(r"Tests:\s+(?:(\d+) failed, )?(?:\d+ skipped, )?(\d+) passed", output):  # jest
        return int(m.group(2)), int(m.group(1) or 0)
    tail = output[-3000:]
    passed = re.findall(r"(\d+) passed", tail)
    failed = re.findall(r"(\d+) failed", tail)
    errors = re.findall(r"(\d+) errors?\b", tail)
    if passed or failed:
        return int(passed[-1]) if passed else 0, (int(failed[-1]) if failed else 0) + (int(errors[-1]) if errors else 0)
    if m := re.search(r"Ran (\d+) tests?.*?\n\n(OK|FAILED \((?:failures|errors)=(\d+))", output, re.S):  # unittest
        failures = int(m.group(3) or 0)
        return int(m.group(1)) - failures, failures
    fails, oks = len(re.findall(r"^--- FAIL", output, re.M)), len(re.findall(r"^ok\s", output, re.M))  # go
    if fails or oks:
        return oks, fails
    return None


def parse_test_run(output: str) -> TestCounts:
    """The counts and the failing tests a test run printed (no counts: it did not collect, or it crashed)."""
    passed, failed = parse_test_counts(output) or (None, None)
    failures = dict.fromkeys(next(g for g in found if g) for found in FAILED_TEST.findall(output))
    return TestCounts(passed, failed, tuple(failures))


def exit_code(result: CommandResult) -> int | None:
    """The exit code as the shell reports it (killed by signal N: 128 + N); None when it timed out or the
    sandbox stopped it."""
    if result.timed_out or result.stopped or result.exit_code is None:
        return None
    return 128 - result.exit_code if result.exit_code < 0 else result.exit_code


def command_run(command: str, result: CommandResult, tests: bool | None = None) -> CommandRun:
    """What a command tool ran, typed. ``tests``: whether it ran tests (default: whether the command line
    names a test runner)."""
    ran_tests = TEST_COMMAND.search(command) is not None if tests is None else tests
    return CommandRun(command, exit_code(result), parse_test_run(result.output) if ran_tests else None)


def project_python(workspace: Path, env: Mapping[str, str] | None = None) -> str:
    """The project's Python, as a command: its ``.venv`` or ``venv``, an active virtualenv, then the system's
    ``python3`` (commands get a PATH without locoder's own ``bin``, see ``command_env``); never the virtualenv
    locoder itself runs from, which has none of the project's packages."""
    for candidate in (".venv/bin/python", "venv/bin/python"):
        if (workspace / candidate).is_file():
            return candidate
    env = os.environ if env is None else env
    active = env.get("VIRTUAL_ENV", "")
    if active and not _is_own_prefix(active) and (Path(active) / "bin" / "python").is_file():
        return str(Path(active) / "bin" / "python")
    return "python3"


def _is_own_prefix(prefix: str) -> bool:
    """Whether ``prefix`` is the virtualenv locoder runs from."""
    if sys.prefix == sys.base_prefix:
        return False
    try:
        return os.path.realpath(prefix) == os.path.realpath(sys.prefix)
    except OSError:
        return False


def command_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for model-run commands: without locoder's own virtualenv on PATH or in ``VIRTUAL_ENV``, so
    ``python3`` and ``pytest`` are the project's or the system's, not locoder's."""
    out = dict(env)
    if sys.prefix == sys.base_prefix:
        return out
    own = os.path.realpath(os.path.join(sys.prefix, "bin"))
    folders = [f for f in out.get("PATH", "").split(os.pathsep) if f and os.path.realpath(f) != own]
    out["PATH"] = os.pathsep.join(folders)
    if out.get("VIRTUAL_ENV") and _is_own_prefix(out["VIRTUAL_ENV"]):
        del out["VIRTUAL_ENV"]
    return out


def _has_make_target(makefile: Path, target: str) -> bool:
    try:
        return any(line.startswith(f"{target}:") for line in read_text(makefile, max_bytes=1_000_000).splitlines())
    except OSError:
        return False


def detect_test_command(workspace: Path, target: str = "") -> str | None:
    """The command that runs this project's tests (narrowed to ``target`` where the runner allows),
    or None when no test setup is recognised."""
    extra = f" {shlex.quote(target)}" if target else ""
    package = workspace / "package.json"
    if package.is_file():
        try:
            scripts = json.loads(read_text(package, max_bytes=1_000_000)).get("scripts") or {}
            if not isinstance(scripts, dict):
                scripts = {}
        except (OSError, ValueError, RecursionError, AttributeError):
            scripts = {}
        if "test" in scripts:
            return f"npm test --silent{' -- ' + shlex.quote(target) if target else ''}"
    if (workspace / "Cargo.toml").is_file():
        return f"cargo test{extra}"
    if (workspace / "go.mod").is_file():
        return f"go test {shlex.quote(target) if target else './...'}"
    python_markers = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", "setup.py", "conftest.py")
    if any((workspace / m).is_file() for m in python_markers) or any(workspace.glob("test*/**/test_*.py")) \
            or any(workspace.glob("test_*.py")):
        # No bytecode files: an edit within the same second that keeps the file's size would otherwise run
        # the stale cached module (its check is mtime in seconds plus size).
        return f"PYTHONDONTWRITEBYTECODE=1 {project_python(workspace)} -m pytest -q{extra}"
    for makefile in ("Makefile", "makefile", "GNUmakefile"):
        if _has_make_target(workspace / makefile, "test"):
            return "make test"
    return None


@tool(effects="read", subject="target")
def run_tests(ctx: ToolContext, target: str = "") -> ToolOutput:
    """Run the project's tests (pytest, npm test, cargo test, go test or make test, whichever the project
    uses) and show how many passed and failed, with the end of the output.

    Args:
        target: Only these tests, e.g. "tests/test_config.py" or a test name; empty: all of them.
    """
    # Its effect is "read": it runs the project's own test command, which the model does not choose (so it is
    # not asked about, and the loop's repeat check counts it as looking). Commands are confined as always.
    command = detect_test_command(ctx.workspace, target)
    if command is None:
        raise ToolError("no test setup found (no pytest files, package.json test script, Cargo.toml, go.mod "
                        "or make test); use run_command with the project's test command")
    result = ctx.run(command)
    run = command_run(command, result, tests=True)
    head = f"$ {command}\n[{result.status}]"
    if run.tests is not None and run.tests.passed is not None:
        head += f"\n{run.tests.passed} passed, {run.tests.failed} failed"
    return ToolOutput(f"{head}\n{result.output.strip() or '(no output)'}", run)
