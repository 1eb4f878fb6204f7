"""The session summary: what was asked and done, measured in a real git repository, with next steps."""

import json
import subprocess
import sys

import pytest

from locoder.locations import StatePaths
from locoder.tools.tests import parse_test_counts


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path):
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\n"
                                       "def test_more():\n    assert add(2, 2) == 5\n")
    (repo / "notes.txt").write_text("uncommitted before the session\n")
    git(repo, "init", "-q")
    git(repo, "add", "calc.py", "test_calc.py")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\n# edited before the session\n")
    return repo


def run(repo, tmp_path, replies, *extra):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    return subprocess.run([sys.executable, "-m", "locoder", "run", "improve add", "-w", str(repo), "-m",
                           f"scripted:{path}", "--no-memory", *extra], capture_output=True, text=True, timeout=120,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_the_summary_says_what_was_asked_done_and_left(project, tmp_path):
    out = run(project, tmp_path, [
        {"tool": "edit_file", "arguments": {"path": "calc.py", "search": "    return a + b",
                                            "replace": "    # TODO: check the types\n    return a + b"}},
        {"tool": "write_file", "arguments": {"path": "helpers.py", "content": "X = 1\nY = 2\n"}},
        {"tool": "run_command", "arguments": {"command": f"{sys.executable} -m pytest -q -p no:cacheprovider"}},
        {"tool": "run_command", "arguments": {"command": "sed -i 's/a + b/b + a/' calc.py && false"}},
        {"tool": "final_answer", "arguments": {"answer": "done"}},
        {"tool": "final_answer", "arguments": {"answer": "done, one test still fails: test_more expects 2 + 2 == 5"}},
    ])
    text = out.stdout
    # The first final answer is refused (files changed after a failing run); the second, saying why, ends the
    # task unverified: exit code 1.
    assert out.returncode == 1, out.stderr
    assert "Not done yet: files changed since the last test run" in text
    assert "asked    1. improve add  (unverified)" in text
    # Measured against the working tree when the session began: the earlier edit does not count.
    assert "changed  calc.py +2 -1; helpers.py +2 -0" in text  # the sed command counts too
    assert "commands 2 run, 0 ok; " in text and "`sed -i 's/a + b/b + a/' calc.py && false` exit 1" in text
    assert text.count("` exit 1") == 2  # the pytest run (its long interpreter path is cut) and sed
    assert "tests    1 passed, 1 failed" in text
    assert "next     1. Fix the 1 failing test(s): test_calc.py::test_more" in text
    assert "2. The task \"improve add\" ended with tests failing; the model said: done, one test still fails" in text
    assert "3. Resolve the TODO/FIXME added at calc.py:2." in text
    stored = list((project / ".locoder" / "sessions").glob("*.json"))
    assert len(stored) == 1
    data = json.loads(stored[0].read_text())
    assert data["tests"][-1]["failures"] == ["test_calc.py::test_more"] and data["tokens"]["prompt"] > 0
    audit = [json.loads(line) for line in (project / ".locoder" / "logs" / "agent_audit.jsonl").read_text().splitlines()]
    assert audit[-1]["type"] == "summary" and audit[-1]["next_steps"] == data["next_steps"]


def test_a_failed_task_outside_git_still_gets_a_summary(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    out = run(plain, tmp_path, [{"tool": "write_file", "arguments": {"path": "a.py", "content": "x = 1\n"}}] * 4,
              "--max-steps", "2")
    assert out.returncode == 1
    assert "changed  a.py (changed)" in out.stdout and "(failed)" in out.stdout
    assert "ended failed" in out.stdout and "Run the tests" in out.stdout


@pytest.mark.parametrize("output,expected", [
    ("===== 3 failed, 10 passed, 1 skipped in 0.52s =====", (10, 3)),
    ("test result: FAILED. 7 passed; 2 failed; 0 ignored", (7, 2)),
    ("Tests:       1 failed, 4 passed, 5 total", (4, 1)),
    ("--- FAIL: TestAdd (0.00s)\nFAIL\nok  \tshop/util\t0.1s\n", (1, 1)),
    ("....\n----------------------------------------------------------------------\nRan 4 tests in 0.001s\n\nFAILED (failures=1)", (3, 1)),
    ("no tests here", None),
])
def test_test_counts_from_each_runner(output, expected):
    assert parse_test_counts(output) == expected


# -- typed data, not text --------------------------------------------------------------------------------------
def ran(command, exit_code, tests=None, text=""):
    """A loop step whose one call ran ``command``: its typed result, and ``text`` as the model saw it."""
    from locoder.events import Observation, Step
    from locoder.messages import CommandRun, ToolCall, ToolResult

    call = ToolCall("run_command", {"command": command})
    result = ToolResult(call, text, data=CommandRun(command, exit_code, tests))
    return Step(1, calls=[call], observations=[Observation(result, text)])


def test_the_test_counts_are_the_last_runs_from_its_typed_data(tmp_path):
    from locoder.agent.summary import SessionSummary, render
    from locoder.events import TaskStarted
    from locoder.messages import TestCounts

    summary = SessionSummary(tmp_path, StatePaths.at(tmp_path / ".locoder", tmp_path), "s1")
    summary.emit(TaskStarted("fix it"))
    summary.emit(ran("pytest -q", 1, TestCounts(3, 1, ("test_a.py::test_x",)), "3 passed, 1 failed"))
    # The later run did not collect: its output still mentions the earlier counts, its data has none.
    summary.emit(ran("pytest -q", 2, TestCounts(None, None), "ERROR test_a.py\n(before: 3 passed, 1 failed)"))
    summary.emit(ran("echo 12 passed", 0, None, "12 passed"))  # not a test run, whatever it prints
    data = summary.finish()
    assert data["commands"] == [{"command": "pytest -q", "exit_code": 1}, {"command": "pytest -q", "exit_code": 2},
                                {"command": "echo 12 passed", "exit_code": 0}]
    assert [(t["passed"], t["failed"], t["exit_code"]) for t in data["tests"]] == [(3, 1, 1), (None, None, 2)]
    text = render(data)
    assert "tests    no results from the last run (`pytest -q`, exit 2)" in text and "3 passed" not in text
    assert "reported no results (exit 2)" in data["next_steps"][0]


def test_a_real_run_that_stops_collecting_is_reported_not_the_earlier_count(repo, tmp_path):
    from locoder.agent.loop import Agent, AgentConfig
    from locoder.agent.summary import SessionSummary
    from locoder.models.scripted import ScriptedModel
    from locoder.tools import ToolBox, ToolContext, default_tools

    (repo / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    summary = SessionSummary(repo, StatePaths.at(tmp_path / "state", repo), "s2")
    replies = [json.dumps({"tool": "run_command", "arguments": {"command": command}}),
               json.dumps({"tool": "write_file", "arguments": {"path": "test_calc.py",
                                                          "content": "import no_such_module\n"}}),
               json.dumps({"tool": "run_command", "arguments": {"command": command + " -x"}}),
               json.dumps({"tool": "final_answer", "arguments": {"answer": "done"}})]
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=60))
    Agent(ScriptedModel(replies), box, AgentConfig(), "system", sinks=[summary]).run("break the tests")
    first, last = summary.finish()["tests"]
    assert (first["passed"], first["failed"], first["exit_code"]) == (1, 0, 0)
    assert (last["passed"], last["failed"]) == (None, None) and last["exit_code"] == 2
