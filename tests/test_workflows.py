"""The workflows' logic with a scripted model, through the real CLI, on real projects with real pytest runs in
the sandbox: which workflow takes a task, the bug-fix harness (reproduce, localise, repair, validate, restore),
the question harness, and the gate that keeps a task from ending done while its tests fail.

The real model's results on these workflows are measured by bench/bench_bugfix.py and tests/test_e2e.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.agent.router import route
from locoder.audit import read_audit_log
from locoder.models.facts import from_model_list, from_ollama_show
from locoder.tools.tests import command_env, project_python

CALC = 'def add(a, b):\n    """Add two numbers."""\n    return a - b\n\n\ndef double(x):\n    return add(x, x)\n'
TESTS = "from calc import add, double\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n" \
        "def test_double():\n    assert double(0) == 0\n"


def project_venv(repo: Path) -> None:
    """The project's own Python: this interpreter (which has pytest), as .venv/bin/python."""
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


@pytest.fixture
def shop(tmp_path):
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TESTS)
    (repo / "pyproject.toml").write_text("[project]\nname = 'shop'\nversion = '0'\n")
    project_venv(repo)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "calc.py", "test_calc.py", "pyproject.toml"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


def run(repo: Path, tmp_path: Path, task: str, replies: list, *extra: str) -> tuple[subprocess.CompletedProcess, list]:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "locoder", "run", task, "-w", str(repo), "-m", f"scripted:{path}",
                          "--no-memory", "--no-rl", *extra], capture_output=True, text=True, timeout=300, env=env)
    return out, read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")


def fenced(code: str) -> str:
    return f"The operator is wrong.\n```python\n{code}```"


FIXED_ADD = 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n'


@pytest.mark.parametrize("task,expected", [
    ("what does add in calc.py return?", "ask"),
    ("which functions are in calc.py?", "ask"),
    ("add(2, 3) returns -1 instead of 5", "fix"),
    ("fix the failing test", "fix"),
    ("create hello.py that prints hello and run it", "loop"),
    ("add a --verbose flag to cli.py", "loop"),
    # reports written as statements, with none of the words of a bug report
    ("calc.add never adds: the sum of 2 and 3 comes out as -1", "fix"),
    ("add(2, 3) > add(2, 3) is True", "fix"),
    ("Two results of add with the same arguments are not equal", "fix"),
    ("The add function ignores its second argument", "fix"),
    ("make add(2, 3) accept floats too", "loop"),
])
def test_each_task_goes_to_the_workflow_that_fits_it(shop, task, expected):
    assert route(task, shop) == expected


def test_without_python_tests_a_bug_report_goes_to_the_loop(tmp_path):
    assert route("fix the crash in main.go", tmp_path) == "loop"


def test_options_the_project_cannot_run_do_not_stop_the_harness(shop, tmp_path):
    """A project whose pytest addopts name a plugin its Python lacks (``--cov`` without pytest-cov) exits 4
    before any test runs: the harness runs the tests without those options instead of giving up."""
    (shop / "pyproject.toml").write_text("[project]\nname = 'shop'\nversion = '0'\n\n"
                                         "[tool.pytest.ini_options]\naddopts = '--no-such-plugin-option=x'\n")
    out, records = run(shop, tmp_path, "add(2, 3) returns -1 instead of 5", [fenced(FIXED_ADD)], "--workflow", "fix")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "return a + b" in (shop / "calc.py").read_text()
    commands = [c["arguments"]["command"] for r in records if r["type"] == "step" for c in r.get("calls", [])
                if c["tool"] == "run_command" and "-m pytest" in c["arguments"]["command"]]
    assert "-o addopts=" not in commands[0] and all("-o addopts=" in c for c in commands[1:])


def test_the_harness_fixes_the_function_the_evidence_points_to(shop, tmp_path):
    out, records = run(shop, tmp_path, "add(2, 3) returns -1 instead of 5", [fenced(FIXED_ADD)], "--workflow", "fix")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert "return a + b" in (shop / "calc.py").read_text()
    localised = next(r for r in records if r["type"] == "localised")
    assert localised["candidates"][0].startswith("calc.py:1-3 add")
    result = next(r for r in records if r["type"] == "result")
    assert result["status"] == "submitted" and result["stop"] == "answer" and "Fixed add in calc.py" in result["answer"]
    # Reproduced first (the whole suite, traced), the first failing test traced for the values add computed,
    # then the target test, then the whole suite again.
    commands = [c["arguments"]["command"] for r in records if r["type"] == "step" for c in r.get("calls", [])
                if c["tool"] == "run_command" and "-m pytest" in c["arguments"]["command"]]
    assert len(commands) == 4 and "-p locoder_trace" in commands[0]
    assert "LOCODER_TRACE_VALUES=calc.py:1:1:3" in commands[1] and commands[1].endswith("test_calc.py::test_add")
    assert commands[2].endswith("test_calc.py::test_add") and "LOCODER_TRACE" not in commands[2]
    assert all(".venv/bin/python -m pytest" in c for c in commands)
    assert "tests    2 passed, 0 failed" in out.stdout
    # The model saw the failing test, its error and the one function, whole.
    request = next(r for r in records if r["type"] == "step" and r.get("phase") == "repair" and r.get("raw_output"))
    assert request["temperature"] == 0.0


def test_a_repair_that_does_not_parse_is_refused_and_the_model_tries_again(shop, tmp_path):
    broken = 'def add(a, b):\n    return (a + b\n'
    out, records = run(shop, tmp_path, "add(2, 3) returns -1 instead of 5",
                       [fenced(broken), fenced(FIXED_ADD)], "--workflow", "fix")
    assert out.returncode == 0, out.stdout[-3000:]
    writes = [c for r in records if r["type"] == "step" for c in r.get("calls", []) if c["tool"] == "write_file"]
    assert len(writes) == 1 and "return a + b" in writes[0]["arguments"]["content"], "the broken code was written"
    assert "return a + b" in (shop / "calc.py").read_text()


def test_when_no_repair_passes_the_files_are_restored_and_the_task_fails(shop, tmp_path):
    wrong = 'def add(a, b):\n    """Add two numbers."""\n    return a * b\n'
    out, records = run(shop, tmp_path, "add(2, 3) returns -1 instead of 5", [fenced(wrong), fenced(wrong)],
                       "--workflow", "fix", "--attempts", "1")
    assert out.returncode == 1
    assert (shop / "calc.py").read_text() == CALC
    result = next(r for r in records if r["type"] == "result")
    assert result["status"] == "failed" and result["stop"] == "no_repair" and "the files are as they were" in result["answer"]
    assert "--attempts 3" in out.stdout and "changed  no files" in out.stdout
    # The second round showed the model the new failure.
    second = [r for r in records if r["type"] == "step" and r.get("phase") == "repair" and r.get("raw_output")][1]
    assert second["prompt_chars"] > 0


def test_attempts_sample_again_after_a_failed_one(shop, tmp_path):
    wrong = 'def add(a, b):\n    """Add two numbers."""\n    return a * b\n'
    out, records = run(shop, tmp_path, "add(2, 3) returns -1 instead of 5",
                       [fenced(wrong), fenced(wrong), fenced(FIXED_ADD)], "--workflow", "fix", "--attempts", "2")
    assert out.returncode == 0, out.stdout[-3000:]
    temperatures = [r["temperature"] for r in records if r["type"] == "step" and r.get("phase") == "repair"
                    and "temperature" in r]
    assert temperatures == [0.0, 0.0, 0.7]


def test_without_failing_tests_the_model_writes_a_test_that_reproduces_the_report(shop, tmp_path):
    (shop / "test_calc.py").write_text("from calc import double\n\n\ndef test_double():\n    assert double(0) == 0\n")
    task = "add gives the wrong answer:\n```python\nfrom calc import add\nprint(add(2, 3))\n```\nprints -1, expected 5"
    repro = {"thought": "add(2, 3) should be 5", "code": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"}
    out, records = run(shop, tmp_path, task, [repro, fenced(FIXED_ADD)], "--workflow", "fix")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "return a + b" in (shop / "calc.py").read_text()
    example_runs = [o["output"] for r in records if r["type"] == "step" for c, o in
                    zip(r.get("calls", []), r.get("observations", [])) if "example.py" in c["arguments"].get("command", "")]
    assert example_runs and "\n-1" in example_runs[0]
    result = next(r for r in records if r["type"] == "result")
    assert "The 1 failing test(s) pass now" in result["answer"]


def test_a_reproduction_test_that_passes_now_is_not_trusted(shop, tmp_path):
    (shop / "test_calc.py").write_text("from calc import double\n\n\ndef test_double():\n    assert double(0) == 0\n")
    passes = {"thought": "x", "code": "def test_nothing():\n    assert True\n"}
    out, records = run(shop, tmp_path, "add is broken, it returns wrong results", [passes, passes,
                       {"thought": "give up", "tool": "final_answer", "arguments": {"answer": "cannot reproduce"}}],
                       "--workflow", "fix")
    # Nothing reproduced: the loop took the task over (its one reply ends it).
    assert not any(r["type"] == "localised" for r in records)
    assert [r["type"] for r in records].count("task") == 1
    assert next(r for r in records if r["type"] == "result")["answer"] == "cannot reproduce"


def test_a_project_without_pytest_is_fixed_with_unittest(tmp_path):
    repo = tmp_path / "plain"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_calc.py").write_text(
        "import unittest\n\nfrom calc import add\n\n\nclass TestAdd(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n")
    (repo / "setup.py").write_text("")
    # A virtualenv with no packages at all: no pytest in the project's Python.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    out, records = run(repo, tmp_path, "add(2, 3) returns -1 instead of 5", [fenced(FIXED_ADD)], "--workflow", "fix")
    assert out.returncode == 0, out.stdout[-3000:]
    commands = [c["arguments"]["command"] for r in records if r["type"] == "step" for c in r.get("calls", [])
                if c["tool"] == "run_command"]
    assert any(c.endswith("-m unittest -v tests.test_calc.TestAdd.test_add") for c in commands), commands
    assert "return a + b" in (repo / "calc.py").read_text()
    localised = next(r for r in records if r["type"] == "localised")
    assert localised["candidates"][0].startswith("calc.py:1-3 add")


def test_listing_questions_are_answered_from_the_index_without_the_model(shop, tmp_path):
    out, records = run(shop, tmp_path, "which functions are in calc.py?", [], "--workflow", "ask")
    assert out.returncode == 0, out.stdout[-2000:]
    answer = next(r for r in records if r["type"] == "result")["answer"]
    assert "calc.py defines 2 functions" in answer and "(calc.py:1): Add two numbers." in answer
    assert "`def double(x)` (calc.py:6)" in answer


def test_questions_are_answered_from_the_whole_definition_with_its_sources(shop, tmp_path):
    out, records = run(shop, tmp_path, "what does double in calc.py do?",
                       ["double returns add(x, x) (calc.py:7)."], "--workflow", "ask")
    assert out.returncode == 0, out.stdout[-2000:]
    step = next(r for r in records if r.get("phase") == "retrieve")
    assert step["retrieved"] == ["calc.py:6-7 double", "calc.py:1-3 add"]  # and what it calls
    answer = next(r for r in records if r["type"] == "result")["answer"]
    assert answer.endswith("Sources: calc.py:6-7 double; calc.py:1-3 add")


def test_a_task_cannot_end_done_while_its_tests_fail(shop, tmp_path):
    replies = [{"thought": "test", "tool": "run_tests", "arguments": {}},
               {"thought": "done", "tool": "final_answer", "arguments": {"answer": "fixed"}},
               {"thought": "why", "tool": "final_answer", "arguments": {"answer": "test_add expects the wrong sum"}}]
    out, records = run(shop, tmp_path, "fix the failing test", replies, "--workflow", "loop")
    assert out.returncode == 1
    refused = [o for r in records if r["type"] == "step" for o in r.get("observations", []) if not o["ok"]]
    assert refused and "Not done yet: 1 test(s) still fail: test_calc.py::test_add" in refused[0]["output"]
    result = next(r for r in records if r["type"] == "result")
    assert result["status"] == "unverified" and result["answer"] == "test_add expects the wrong sum"
    assert "(unverified)" in out.stdout and "ended with tests failing" in out.stdout


def test_the_projects_python_never_locoders_own(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/opt/locoder-venv")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    env = {"PATH": "/opt/locoder-venv/bin:/usr/bin:/bin", "VIRTUAL_ENV": "/opt/locoder-venv"}
    assert command_env(env) == {"PATH": "/usr/bin:/bin"}
    assert project_python(tmp_path, env) == "python3"
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    assert project_python(tmp_path, env) == "venv/bin/python"


def test_model_facts_come_from_the_server():
    llama = {"data": [{"id": "m", "meta": {"n_params": 1777088000, "n_ctx": 8192}}]}
    assert (from_model_list(llama, "m").parameters, from_model_list(llama, "m").context) == (1777088000, 8192)
    vllm = {"data": [{"id": "a", "max_model_len": 4096}, {"id": "b", "max_model_len": 32768}]}
    assert from_model_list(vllm, "b").context == 32768 and from_model_list(vllm, "zzz").context == 4096
    show = {"model_info": {"general.parameter_count": 7_000_000_000, "qwen2.context_length": 32768}}
    assert (from_ollama_show(show).parameters, from_ollama_show(show).context) == (7_000_000_000, 32768)
    assert from_model_list({"data": "junk"}).parameters == 0 and from_ollama_show(None).context == 0


TOTAL = ("def total(prices, tax):\n    subtotal = sum(prices)\n    taxed = subtotal - subtotal * tax\n"
         "    return round(taxed, 2)\n\n\ndef labels(prices):\n    return [f'{p:.2f}' for p in prices]\n")
TOTAL_TESTS = ("from till import total, labels\n\n\ndef test_total():\n    assert total([10, 20], 0.5) == 45.0\n\n\n"
               "def test_labels():\n    assert labels([1, 2.5]) == ['1.00', '2.50']\n")
FIXED_TOTAL = ("def total(prices, tax):\n    subtotal = sum(prices)\n    taxed = subtotal + subtotal * tax\n"
               "    return round(taxed, 2)\n")


def test_the_repair_request_shows_what_the_function_did_on_the_failing_test(shop, tmp_path):
    """The candidate function is run once more under the value tracer on the first failing test: the model is
    shown its arguments, each line's values and what it returned, from the real run in the sandbox."""
    from locoder.agent.factory import build_agent
    from locoder.agent.fix import FixConfig, FixWorkflow
    from locoder.config.settings import load_settings
    from locoder.models.scripted import ScriptedModel

    (shop / "till.py").write_text(TOTAL)
    (shop / "test_till.py").write_text(TOTAL_TESTS)
    (shop / "calc.py").write_text(CALC.replace("a - b", "a + b"))
    replies = tmp_path / "replies.json"
    replies.write_text("[]")
    settings = load_settings({"workspace": str(shop), "model": f"scripted:{replies}", "memory": False, "rl": False,
                              "approval": "auto"})
    router = build_agent(settings)
    model = router.agent.model = ScriptedModel([fenced(FIXED_TOTAL)])
    workflow = FixWorkflow(router.agent, shop, settings.state_paths, router.python, FixConfig())
    result = workflow.run("total([10, 20], 0.5) gives 15.0, it should add the tax: 45.0")
    assert result is not None and result.status == "submitted", result
    request = model.requests[0]["messages"][-1].content
    assert "What total did when the failing test test_till.py::test_total ran it" in request
    assert "Call 1: total(prices=[10, 20], tax=0.5)" in request
    assert "line 2: subtotal = sum(prices)  ->  subtotal = 30" in request
    assert "line 3: taxed = subtotal - subtotal * tax  ->  taxed = 15.0" in request
    assert "returned 15.0" in request
    assert "subtotal + subtotal * tax" in (shop / "till.py").read_text()
