"""locoder plan: the context it gathers, the steps it keeps, the plan it saves, and carrying it out later."""

import json
import subprocess
import sys

from locoder.agent import plan as planner
from locoder.config import load_settings
from locoder.knowledge import Knowledge
from locoder.models.scripted import ScriptedModel


def test_steps_are_parsed_with_their_continuation_lines():
    reply = "Here is the plan:\n1. Read `calc.py`.\n2) Add `mul`\n   returning a * b.\nStep 3: Run `pytest -q`.\n"
    assert planner.parse_steps(reply) == ["Read `calc.py`.", "Add `mul` returning a * b.", "Run `pytest -q`."]


def test_the_planner_sees_the_map_code_memories_and_logs(repo, isolated_env):
    (repo / "logs").mkdir()
    (repo / "logs" / "app.log").write_text("2026-11-21T10:00:00Z ERROR scale overflowed for x=10**400\n")
    settings = load_settings({"workspace": str(repo), "model": "scripted:/dev/null"}, env={})
    knowledge = Knowledge(settings)
    knowledge.remember("The scale factor must stay an integer.")
    context = planner.gather_context(settings, knowledge, "make scale in calc.py handle huge numbers")
    knowledge.close()
    assert "Past context from earlier sessions" in context and "scale factor must stay an integer" in context
    assert "Repository map" in context and "def scale(x)" in context
    assert "Code that matches the task:\n- calc.py:" in context
    assert "Key events in logs/:" in context and "scale overflowed" in context
    steps, reply = planner.make_plan(ScriptedModel(["1. Read `calc.py`.\n2. Run `pytest -q`."]), "task", context)
    assert steps == ["Read `calc.py`.", "Run `pytest -q`."]


def test_a_saved_plan_is_shown_and_carried_out_by_a_later_session(tmp_path, repo, isolated_env):
    def locoder(*args, replies):
        path = tmp_path / "replies.json"
        path.write_text(json.dumps(replies))
        return subprocess.run([sys.executable, "-m", "locoder", "plan", *args, "-w", str(repo), "-m", f"scripted:{path}",
                               "--no-memory"], capture_output=True, text=True, timeout=120)

    made = locoder("add mul to calc.py", replies=["1. Add `mul(a, b)` to `calc.py`.\n2. Run `python3 -c 'import calc'`."])
    assert made.returncode == 0, made.stderr
    assert "  1. Add `mul(a, b)` to `calc.py`." in made.stdout and "locoder plan --execute" in made.stdout
    latest = json.loads((repo / ".locoder" / "plans" / "latest.json").read_text())
    assert latest["status"] == "proposed" and len(latest["steps"]) == 2
    assert not (repo / "calc.py").read_text().count("def mul")  # planning ran nothing
    shown = locoder(replies=[])
    assert "plan for: add mul to calc.py" in shown.stdout
    done = locoder("--execute", replies=[
        {"tool": "edit_file", "arguments": {"path": "calc.py", "search": "def scale(x):",
                                            "replace": "def mul(a, b):\n    return a * b\n\n\ndef scale(x):"}},
        {"tool": "final_answer", "arguments": {"answer": "added mul"}}])
    assert done.returncode == 0, done.stderr
    assert "def mul(a, b)" in (repo / "calc.py").read_text() and "session summary" in done.stdout
    assert json.loads((repo / ".locoder" / "plans" / "latest.json").read_text())["status"] == "done"
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run([sys.executable, "-m", "locoder", "plan", "-w", str(empty)], capture_output=True, text=True)
    assert none.returncode != 0 and "no saved plan" in none.stderr
