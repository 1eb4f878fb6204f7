"""The tools added for the bandit's tool set: run_tests (finds each runner and runs it for real), tree,
index, emb_index, vretr (real embeddings) and plan."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from locoder.messages import ToolCall
from locoder.tools import ToolBox, ToolContext, all_tools
from locoder.tools.tests import detect_test_command


def box(workspace: Path, **context) -> ToolBox:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(workspace)}
    return ToolBox(all_tools(), ToolContext(workspace=workspace, command_timeout=60, env=env, **context))


def call(b: ToolBox, name: str, **args):
    return b.execute(ToolCall(name, args))


@pytest.mark.parametrize("files, expected", [
    ({"package.json": json.dumps({"scripts": {"test": "jest"}})}, "npm test --silent"),
    ({"Cargo.toml": "[package]\nname='x'\n"}, "cargo test"),
    ({"go.mod": "module x\n"}, "go test ./..."),
    ({"pyproject.toml": "[project]\nname='x'\n"}, "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q"),
    ({"tests/test_a.py": "def test_a(): pass\n"}, "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q"),
    ({".venv/bin/python": "", "setup.py": ""}, "PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -q"),
    ({"Makefile": "build:\n\ttrue\ntest:\n\ttrue\n"}, "make test"),
    ({"package.json": json.dumps({"scripts": {"build": "tsc"}}), "README.md": "x"}, None),
])
def test_the_test_command_follows_the_project(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert detect_test_command(tmp_path) == expected


def test_run_tests_runs_pytest_and_counts(tmp_path):
    (tmp_path / "test_calc.py").write_text("def test_ok():\n    assert 1\n\n\ndef test_bad():\n    assert 0\n")
    result = call(box(tmp_path), "run_tests")
    assert result.ok and "[exit code 1]" in result.output and "\n1 passed, 1 failed\n" in result.output
    only = call(box(tmp_path), "run_tests", target="test_calc.py::test_ok")
    assert "\n1 passed, 0 failed\n" in only.output and "[exit code 0]" in only.output


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_run_tests_runs_npm_test(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "node test.js"}}))
    (tmp_path / "test.js").write_text("console.log('Tests:       2 passed, 2 total'); process.exit(0)\n")
    result = call(box(tmp_path), "run_tests")
    assert "$ npm test --silent\n[exit code 0]\n2 passed, 0 failed" in result.output


def test_run_tests_without_a_test_setup_says_what_to_do(tmp_path):
    result = call(box(tmp_path), "run_tests")
    assert not result.ok and "no test setup found" in result.output and "run_command" in result.output


def test_tree_index_and_outline_tools(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def serve(port):\n    return port\n")
    (tmp_path / "README.md").write_text("# App\n")
    b = box(tmp_path)
    assert call(b, "tree").output == "README.md\nsrc/\n  app.py"
    assert call(b, "tree", path="src").output == "app.py"
    assert "is not a folder" in call(b, "tree", path="README.md").output
    indexed = call(b, "index")
    assert indexed.ok and indexed.output.startswith("2 files, ")


def test_vretr_needs_embeddings_then_finds_by_meaning(tmp_path):
    (tmp_path / "net.py").write_text("def fetch_with_retries(url, attempts=3):\n"
                                     "    '''Download a page, trying again after failures.'''\n    pass\n")
    (tmp_path / "shapes.py").write_text("def area_of_circle(r):\n    return 3.14159 * r * r\n")
    b = box(tmp_path)
    before = call(b, "vretr", query="download again when a request fails")
    assert not before.ok and "call emb_index first" in before.output
    built = call(b, "emb_index")
    assert built.ok and "vectors (" in built.output, built.output
    found = call(b, "vretr", query="download again when a request fails", max_results=1)
    assert found.ok and found.output.startswith("net.py:1-3 function fetch_with_retries"), found.output


def test_plan_tool_gives_the_planning_context(tmp_path):
    seen = []
    b = box(tmp_path, planner=lambda task: seen.append(task) or "Code that matches the task:\n- a.py:1-2 f")
    result = call(b, "plan", task="add a flag")
    assert seen == ["add a flag"] and result.output.startswith("Code that matches the task:\n- a.py:1-2 f")
    assert "Now write the steps" in result.output
    assert "not available" in call(box(tmp_path), "plan", task="x").output
