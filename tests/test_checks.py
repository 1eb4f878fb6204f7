"""The automatic check loop: after the loop's edits the project's tests and linter run by themselves, in the
sandbox, and what fails goes back to the model. Real projects in tmp_path, real pytest and real ruff runs
through the real CLI; the scripted model plays the loop's side (what a real model does with the checks is
measured by bench/bench_checks.py for time, and by the e2e tests for the loop as a whole)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import locoder
from locoder.audit import read_audit_log
from locoder.config import load_settings
from locoder.config import trust as trust_store
from locoder.tools.checks import detect_linter, parse_lint

CALC = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
SRC = str(Path(locoder.__file__).parents[1])
"""The locoder under test, for the CLI's subprocess (a worktree's, not the one installed)."""
RUFF = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")


def _wrapper(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
    path.chmod(0o755)


@pytest.fixture
def project(tmp_path):
    """A Python project with passing tests, its own Python (this one, which has pytest) and ruff in .venv."""
    assert RUFF, "ruff is a development dependency"
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TESTS)
    (repo / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0'\n\n[tool.ruff.lint]\nselect = ['F']\n")
    _wrapper(repo / ".venv" / "bin" / "python", sys.executable)
    _wrapper(repo / ".venv" / "bin" / "ruff", RUFF)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def run(repo: Path, tmp_path: Path, task: str, replies: list, *extra: str, env: dict | None = None):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    base = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": SRC, **(env or {})}
    out = subprocess.run([sys.executable, "-m", "locoder", "run", task, "-w", str(repo), "-m", f"scripted:{path}",
                          "--no-memory", "--no-rl", "--workflow", "loop", *extra], capture_output=True, text=True,
                         timeout=300, env=base)
    return out, read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")


def edit(path: str, search: str, replace: str) -> dict:
    return {"thought": "edit", "tool": "edit_file", "arguments": {"path": path, "search": search, "replace": replace}}


def answer(text: str = "done") -> dict:
    return {"thought": "done", "tool": "final_answer", "arguments": {"answer": text}}


def outputs(records: list) -> list[str]:
    """What each call of the loop returned to the model, in order."""
    return [o["output"] for r in records if r["type"] == "step" for o in r.get("observations", [])]


def checked(records: list, phase: str = "") -> list[dict]:
    return [r for r in records if r["type"] == "checked" and (not phase or r["phase"] == phase)]


BREAK = edit("calc.py", "    return a + b", "    import os\n    return a - b")
FIX = edit("calc.py", "    import os\n    return a - b", "    return a + b")


def test_a_breaking_edit_shows_the_failures_and_a_fixing_edit_passes(project, tmp_path):
    out, records = run(project, tmp_path, "change add", [BREAK, FIX, answer()])
    assert out.returncode == 0, out.stdout[-3000:]
    broken, fixed = outputs(records)[:2]
    assert "[Checks after this change fail (round 1 of 3): tests 0 passed, 1 failed, ruff 1 finding(s).]" in broken
    assert "tests that passed before fail now: test_calc.py::test_add" in broken
    assert "calc.py:2: F401 `os` imported but unused" in broken
    # The test output comes collapsed (the failing test and its assertion), not as pytest printed it.
    assert "FAILED test_calc.py::test_add - assert -1 == 5" in broken and "short test summary" not in broken
    assert "[Checks after this change pass: tests 1 passed, 0 failed, ruff 0 finding(s).]" in fixed
    # The baseline ran once, before the first edit; then one run after each edit, as typed events.
    assert [r["phase"] for r in checked(records)] == ["before", "after", "after"]
    first_after = checked(records, "after")[0]
    assert first_after["failed"] == 1 and first_after["failing"] == ["test_calc.py::test_add"]
    assert first_after["new"] == ["test_calc.py::test_add", "calc.py:2: F401 `os` imported but unused"]
    assert first_after["lint_findings"] == 1 and first_after["step"] == 1 and first_after["seconds"] > 0
    assert any(c.endswith("ruff check --no-fix --output-format json --force-exclude calc.py")
               for c in first_after["commands"])
    assert next(r for r in records if r["type"] == "result")["status"] == "submitted"


def test_final_answer_is_refused_while_a_check_that_passed_at_the_start_fails(project, tmp_path):
    unused = edit("calc.py", "    return a + b", "    import os\n    return a + b")  # tests pass, lint does not
    out, records = run(project, tmp_path, "change add", [unused, answer(), answer("os is needed later")])
    assert out.returncode == 1
    refused = outputs(records)[1]
    assert refused.startswith("Not done yet: 1 lint finding(s) that were not there before: calc.py:2: F401")
    result = next(r for r in records if r["type"] == "result")
    assert result["status"] == "unverified" and result["answer"] == "os is needed later"


def test_lint_runs_on_the_changed_files_and_old_findings_do_not_count(project, tmp_path):
    (project / "other.py").write_text("import sys\n")  # a finding in a file the task does not touch
    (project / "calc.py").write_text("import json\n\n\n" + CALC)  # and one that was there before the edit
    replies = [edit("calc.py", "    return a + b", "    return b + a"), answer()]
    out, records = run(project, tmp_path, "change add", replies)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "[Checks after this change pass: tests 1 passed, 0 failed, ruff 1 finding(s).]" in outputs(records)[0]
    after = checked(records, "after")[0]
    lint = [c for c in after["commands"] if "ruff" in c]
    assert lint and lint[0].endswith(" calc.py") and "other.py" not in lint[0]
    assert after["new"] == [] and after["lint_findings"] == 1


def test_the_checks_stop_after_fix_attempts_rounds_in_a_row(project, tmp_path):
    edits = [edit("calc.py", "    return a + b", "    return a - b"), edit("calc.py", "    return a - b", "    return a * b"),
             edit("calc.py", "    return a * b", "    return a / b")]
    out, records = run(project, tmp_path, "change add", [*edits, answer(), answer("gave up")], "--fix-attempts", "2")
    assert out.returncode == 1
    first, second, third = outputs(records)[:3]
    assert "round 1 of 2" in first and "Fix this next" in first
    assert "round 2 of 2" in second and "they no longer run after edits in this task" in second
    assert "Checks after" not in third
    assert len(checked(records, "after")) == 2
    # The gate still knows: files changed since the last check, so the task cannot end as done.
    assert outputs(records)[3].startswith("Not done yet: files changed since the last test run")


def test_no_auto_checks_runs_nothing_by_itself(project, tmp_path):
    out, records = run(project, tmp_path, "change add", [BREAK, answer(), answer("x")], "--no-auto-checks")
    assert "Checks after" not in outputs(records)[0] and not checked(records)


def test_a_bug_fix_task_starts_with_the_checks_in_its_context(project, tmp_path):
    (project / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    replies = [edit("calc.py", "    return a - b", "    return a + b"), answer("fixed")]
    out, records = run(project, tmp_path, "fix the failing test", replies)
    assert out.returncode == 0, out.stdout[-3000:]
    types = [r["type"] for r in records]
    assert types.index("task") < types.index("checked") < types.index("step")
    start = checked(records, "start")[0]
    assert (start["passed"], start["failed"], start["failing"]) == (0, 1, ["test_calc.py::test_add"])
    # No second baseline before the edit: the start run is the task's first test run.
    assert [r["phase"] for r in checked(records)] == ["start", "before", "after"]
    assert checked(records, "before")[0]["passed"] is None  # the lint baseline alone
    first_request = next(r for r in records if r["type"] == "task")
    assert first_request["context_chars"] > 0
    summary = json.loads(next((project / ".locoder" / "sessions").iterdir()).read_text())
    assert summary["tasks"][0]["checks_at_start"] == {"passed": 0, "failed": 1, "failing": ["test_calc.py::test_add"]}
    assert "before any change 1 test(s) failed: test_calc.py::test_add" in out.stdout


def test_the_fix_workflows_first_run_is_the_start_check(project, tmp_path):
    (project / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    fixed = "The operator is wrong.\n```python\ndef add(a, b):\n    return a + b\n```"
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([fixed]))
    out = subprocess.run([sys.executable, "-m", "locoder", "run", "add(2, 3) returns -1 instead of 5", "-w",
                          str(project), "-m", f"scripted:{path}", "--no-memory", "--no-rl", "--workflow", "fix"],
                         capture_output=True, text=True, timeout=300,
                         env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": SRC})
    assert out.returncode == 0, out.stdout[-3000:]
    records = read_audit_log(project / ".locoder" / "logs" / "agent_audit.jsonl")
    # One start event from the harness's own reproduction run; its repairs get no automatic checks.
    assert [(r["phase"], r["failing"]) for r in checked(records)] == [("start", ["test_calc.py::test_add"])]


def test_custom_test_and_lint_commands(project, tmp_path):
    replies = [edit("calc.py", "    return a + b", "    # FIXME: overflow\n    return a + b"), answer(), answer("later")]
    out, records = run(project, tmp_path, "change add", replies, "--test-cmd", ".venv/bin/python -m pytest -q test_calc.py",
                       "--lint-cmd", "grep -Hn FIXME {files}")
    assert out.returncode == 1
    after = checked(records, "after")[0]
    assert after["commands"] == [".venv/bin/python -m pytest -q test_calc.py", "grep -Hn FIXME calc.py"]
    assert after["passed"] == 1 and after["new"] == ["calc.py:2: # FIXME: overflow"]
    assert "custom 1 finding(s)" in outputs(records)[0]


def test_an_untrusted_project_file_cannot_set_the_check_commands(project, tmp_path, isolated_env):
    config = project / ".locoder.toml"
    config.write_text('test_cmd = "touch pwned-by-tests"\nlint_cmd = "touch pwned-by-lint"\nfix_attempts = 5\n')
    settings = load_settings({"workspace": str(project)}, env={"HOME": str(isolated_env)})
    assert (settings.test_cmd, settings.lint_cmd, settings.fix_attempts) == ("", "", 5)
    assert sorted(settings.untrusted) == ["lint_cmd", "test_cmd"]
    out, records = run(project, tmp_path, "change add", [BREAK, FIX, answer()], env={"HOME": str(isolated_env)})
    assert out.returncode == 0, out.stdout[-3000:]
    assert not list(project.glob("pwned-*"))
    assert "-m pytest" in checked(records, "after")[0]["commands"][0]
    warning = next(r for r in records if r["type"] == "warning" and r.get("kind") == "untrusted_config")
    assert warning["ignored"] == ["lint_cmd", "test_cmd"]
    trust_store.trust(config, {"HOME": str(isolated_env)})
    trusted = load_settings({"workspace": str(project)}, env={"HOME": str(isolated_env)})
    assert (trusted.test_cmd, trusted.lint_cmd) == ("touch pwned-by-tests", "touch pwned-by-lint")


def test_fix_attempts_must_be_at_least_one(project, isolated_env):
    from locoder.exceptions import ConfigError

    with pytest.raises(ConfigError, match="fix_attempts must be at least 1"):
        load_settings({"workspace": str(project), "fix_attempts": 0}, env={})


def test_the_linter_is_found_from_the_project(tmp_path):
    cases = {"ruff": ("pyproject.toml", "[tool.ruff]\nline-length = 100\n"), "flake8": ("setup.cfg", "[flake8]\n"),
             "eslint": ("package.json", '{"devDependencies": {"eslint": "^9"}}'), "clippy": ("Cargo.toml", "[package]\n"),
             "go vet": ("go.mod", "module x\n")}
    for name, (file, text) in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / file).write_text(text)
        assert detect_linter(folder).name == name
    assert detect_linter(tmp_path / "ruff").takes_paths and not detect_linter(tmp_path / "go_vet").takes_paths
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert detect_linter(tmp_path / "plain") is None


def test_linter_output_is_read_into_findings(tmp_path):
    flake8 = "./calc.py:1:1: F401 'os' imported but unused\ncalc.py:3:80: E501 line too long (90 > 79 characters)\n"
    assert [(f.path, f.rule, f.message, f.line) for f in parse_lint("flake8", flake8, tmp_path)] == [
        ("calc.py", "F401", "'os' imported but unused", 1), ("calc.py", "E501", "line too long (90 > 79 characters)", 3)]
    concise = "calc.py:1:8: F401 [*] `os` imported but unused\nFound 1 error.\n[*] 1 fixable with `--fix`.\n"
    assert [str(f) for f in parse_lint("custom", concise, tmp_path)] == ["calc.py:1: F401 `os` imported but unused"]
    clippy = "src/main.rs:2:9: warning[clippy::needless_return]: unneeded `return` statement\n"
    assert [(f.rule, f.message) for f in parse_lint("clippy", clippy, tmp_path)] == [
        ("clippy::needless_return", "unneeded `return` statement")]
    vet = "# example.com/x\n./main.go:5:2: fmt.Printf format %d has arg s of wrong type string\n"
    assert [str(f) for f in parse_lint("go vet", vet, tmp_path)] == [
        "main.go:5: fmt.Printf format %d has arg s of wrong type string"]
    eslint = json.dumps([{"filePath": str(tmp_path / "a.js"), "messages": [
        {"ruleId": "no-unused-vars", "message": "'x' is assigned a value but never used.", "line": 1}]}])
    assert [str(f) for f in parse_lint("eslint", eslint, tmp_path)] == [
        "a.js:1: no-unused-vars 'x' is assigned a value but never used."]
