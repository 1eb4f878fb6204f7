"""The bandit in the loop: rewards from outcomes (known answers), arguments from the request, suggestions
shown and given as hints, cooldowns, approvals, persistence across sessions, and the rl commands."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from locoder.agent.advisor import MIN_TRIES, ToolAdvisor, arguments_for, logs_have_errors
from locoder.agent.loop import Agent, AgentConfig
from locoder.events import Observation, RunResult, Step, TaskFinished, TaskStarted
from locoder.learn import bandit
from locoder.learn.arguments import grep_pattern, search_query
from locoder.learn.curves import curves, totals
from locoder.learn.persistence import read_events
from locoder.learn.rewards import REWARD, StepOutcome, step_rewards
from locoder.locations import StatePaths
from locoder.messages import ToolCall, ToolResult, Usage
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, all_tools, default_tools
from locoder.tools.guard import GuardedToolBox, ToolPolicy

PYTEST_FAIL = "$ python3 -m pytest -q\n[exit code 1]\n1 passed, 1 failed\nFAILED test_calc.py::test_add\n1 failed, 1 passed"
PYTEST_PASS = "$ python3 -m pytest -q\n[exit code 0]\n2 passed, 0 failed\n2 passed in 0.1s"


# -- rewards ----------------------------------------------------------------------------------------------
def test_rewards_add_up_the_documented_parts():
    steps = [
        StepOutcome("run_tests", True, PYTEST_FAIL, "{}", tests=(1, 1)),
        StepOutcome("read_file", True, "1 def add(a, b):\n2     return a - b", '{"path": "test_calc.py"}'),
        StepOutcome("edit_file", True, "edited calc.py", '{"path": "calc.py", "search": "a - b"}', approval="yes"),
        StepOutcome("run_command", False, "Refused: the user declined", '{"command": "rm -rf build"}', approval="no"),
        StepOutcome("run_tests", True, PYTEST_PASS, "{}", tests=(2, 0)),
    ]
    got = step_rewards(steps, "fix the failing test", "submitted", answer="add returned a - b")
    r = REWARD
    assert [parts for _, parts in got] == [
        # its output named test_calc.py, which the next call read
        {"ok": r["ok"], "used": r["used"], "task_done": r["task_done"]},
        # the answer quotes nothing of it, but the edit's search text does ("a - b" is not a name): no "used"
        {"ok": r["ok"], "tests_fixed": r["tests_fixed"], "task_done": r["task_done"]},
        {"ok": r["ok"], "tests_fixed": r["tests_fixed"], "approved": r["approved"], "task_done": r["task_done"]},
        {"error": r["error"], "tests_fixed": r["tests_fixed"], "rejected": r["rejected"], "task_done": r["task_done"]},
        {"ok": r["ok"], "tests_fixed": r["tests_fixed"], "task_done": r["task_done"]},
    ]
    assert [reward for reward, _ in got] == [1.0, 1.0, 1.0, -0.1, 1.0]  # cut to [-1, 1]


def test_a_failed_task_lowers_and_a_cancelled_one_leaves_the_task_part_out():
    steps = [StepOutcome("grep", False, "Error: bad pattern", "{}")]
    assert step_rewards(steps, "x", "failed") == [(-0.6, {"error": -0.4, "task_failed": -0.2})]
    assert step_rewards(steps, "x", "cancelled") == [(-0.4, {"error": -0.4})]
    assert step_rewards(steps, "x", "error") == [(-0.4, {"error": -0.4})]


def test_output_counts_as_used_only_with_new_names():
    # "parse_config" was in the task already: repeating it proves nothing about this output
    steps = [StepOutcome("grep", True, "src/app.py:3:def parse_config(path):", "{}"),
             StepOutcome("read_file", True, "...", '{"path": "README.md"} parse_config')]
    assert "used" not in step_rewards(steps, "where is parse_config", "submitted")[0][1]
    steps[1].said = '{"path": "src/app.py"}'
    assert "used" in step_rewards(steps, "where is parse_config", "submitted")[0][1]


# -- arguments --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task, pattern", [
    ("where is parse_config defined?", "parse_config"),
    ("find the 'connection refused' message", "connection\\ refused"),
    ("who calls HttpClient.send", "HttpClient\\.send"),
    ("which module handles retries", "retries"),
])
def test_grep_patterns_come_from_the_request(task, pattern):
    assert grep_pattern(task) == pattern


def test_arguments_for_each_kind_of_tool(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    exists = lambda p: (tmp_path / p).is_file()  # noqa: E731
    task = "explain what src/app.py does with the retry settings"
    tools = {t.name: t for t in all_tools()}

    def fill_arguments(name, task, exists=lambda path: False):
        return arguments_for(tools[name], task, exists)

    assert fill_arguments("read_file", task, exists) == {"path": "src/app.py"}
    assert fill_arguments("code_outline", "outline missing.py please", exists) == {}
    assert fill_arguments("search_code", task) == {"query": search_query(task)}
    assert search_query(task) == "src/app.py retry settings"
    assert fill_arguments("intel", task) == {"question": task}
    assert fill_arguments("tree", task) == {"path": "."}
    assert fill_arguments("run_tests", task) == {}


# -- the advisor in the loop ------------------------------------------------------------------------------
def agent_with(tmp_path, replies, approver=None, approval="auto", **advisor_args):
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    box = GuardedToolBox(ToolBox(default_tools(), ToolContext(workspace)), ToolPolicy(approval=approval), approver)
    advisor = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), box.names(), workspace, seed=3, **advisor_args)
    events = []

    class Sink:
        def emit(self, event):
            events.append(event.to_dict())

    model = ScriptedModel(replies)
    agent = Agent(model, box, AgentConfig(tool_mode="constrained"), "system", sinks=[Sink()], advisor=advisor)
    return agent, advisor, model, events


def one_call(tool, output):
    """A loop step with one call of ``tool`` that returned ``output``."""
    call = ToolCall(tool, {})
    return Step(1, calls=[call], observations=[Observation(ToolResult(call, output), output)])


def finished(status, answer):
    return TaskFinished(RunResult(status, answer, 1, Usage(), 0.0))


def teach(advisor, tool, task, times, reward=1.0, followed=True):
    """``times`` steps where ``tool`` earned ``reward`` at the start of ``task``; ``followed``: each time it was
    the suggestion, taken."""
    x = bandit.featurize(bandit.Situation(task), advisor.state.dim)
    for _ in range(times):
        advisor.state = bandit.update(advisor.state, tool, x, reward)
        if followed:
            bandit.record_hint(advisor.state, tool, "", reward > 0)


def test_every_step_gets_a_suggestion_and_rewards_are_saved_after_the_task(tmp_path):
    agent, advisor, _, events = agent_with(tmp_path, [
        {"thought": "look", "tool": "read_file", "arguments": {"path": "calc.py"}},
        {"thought": "answer", "tool": "final_answer", "arguments": {"answer": "add subtracts"}},
    ])
    assert agent.run("what does calc.py do?").ok
    suggestions = [e for e in events if e["type"] == "suggestion"]
    assert len(suggestions) == 2 and all(e["transient"] for e in suggestions)
    assert all(e["why"] == "no experience yet" and not e["hint"] for e in suggestions)
    rewards = read_events(tmp_path / "ws" / ".locoder" / "rl_events.jsonl")
    assert [(e["tool"], e["reward"], e["parts"]) for e in rewards] == [
        ("read_file", 0.7, {"ok": 0.4, "task_done": 0.3})]  # the answer quotes no name from calc.py
    again = ToolAdvisor(StatePaths.at(tmp_path / "ws" / ".locoder", tmp_path / "ws"), ["read_file"], tmp_path / "ws")
    assert again.state.counts["read_file"] == 1 and again.state.steps == 1 and not again.warning


def test_with_evidence_the_hint_reaches_the_model_with_arguments(tmp_path):
    agent, advisor, model, events = agent_with(tmp_path, [
        {"thought": "grep it", "tool": "grep", "arguments": {"pattern": "parse_config"}},
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "nowhere"}},
    ], epsilon=0.0)
    task = "where is parse_config defined?"
    teach(advisor, "grep", task, MIN_TRIES)
    agent.run(task)
    first = model.requests[0]["messages"][-1]
    assert first.role == "user" and first.content.startswith(task)
    assert '[Hint: in similar steps grep helped most' in first.content
    assert 'grep({"pattern": "parse_config"})' in first.content
    suggestion = next(e for e in events if e["type"] == "suggestion")
    assert suggestion["tool"] == "grep" and suggestion["hint"] and suggestion["tries"] == MIN_TRIES
    step = next(e for e in events if e["type"] == "step")
    assert step["suggestion"]["tool"] == "grep"
    # Followed suggestions are recorded as such.
    rewards = read_events(tmp_path / "ws" / ".locoder" / "rl_events.jsonl")
    assert rewards[0]["suggested"] == "grep" and rewards[0]["followed"] is True


def test_no_hint_without_enough_evidence_or_when_hints_are_off(tmp_path):
    agent, advisor, model, _ = agent_with(tmp_path, [
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "x"}}], epsilon=0.0, hint=False)
    teach(advisor, "grep", "where is parse_config defined?", 10)
    agent.run("where is parse_config defined?")
    assert "[Hint" not in model.requests[0]["messages"][-1].content
    agent, advisor, model, _ = agent_with(tmp_path, [
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "x"}}], epsilon=0.0)
    teach(advisor, "grep", "where is parse_config defined?", MIN_TRIES - 1)
    agent.run("where is parse_config defined?")
    assert "[Hint" not in model.requests[0]["messages"][-1].content


def test_a_suggestion_that_was_wrong_in_this_state_is_not_given_to_the_model(tmp_path):
    agent, advisor, model, events = agent_with(tmp_path, [
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "x"}}], epsilon=0.0)
    task = "where is parse_config defined?"
    teach(advisor, "grep", task, MIN_TRIES, followed=False)  # good on average, never taken as a suggestion
    bandit.record_hint(advisor.state, "grep", "", False)
    bandit.record_hint(advisor.state, "grep", "", False)  # taken twice at the start of a task, both wrong
    agent.run(task)
    assert "[Hint" not in model.requests[0]["messages"][-1].content
    suggestion = next(e for e in events if e["type"] == "suggestion")
    assert suggestion["tool"] == "grep" and not suggestion["hint"]
    # After a step with another tool, the record is another one: none yet, so still no hint.
    assert not bandit.trusted(advisor.state, "grep", "read_file")


def test_the_call_just_made_is_never_suggested(tmp_path):
    agent, advisor, model, events = agent_with(tmp_path, [
        {"thought": "read", "tool": "read_file", "arguments": {"path": "calc.py"}},
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "x"}}], epsilon=0.0)
    task = "what does calc.py do?"
    teach(advisor, "read_file", task, 20)
    x = bandit.featurize(bandit.Situation(task, last_tool="read_file"), advisor.state.dim)
    for _ in range(20):
        advisor.state = bandit.update(advisor.state, "read_file", x, 1.0)
    agent.run(task)
    first, second = [e for e in events if e["type"] == "suggestion"]
    assert first["tool"] == "read_file" and first["arguments"] == {"path": "calc.py"}
    assert second["tool"] != "read_file", "the step just taken was suggested again"


def test_heavy_tools_wait_for_their_cooldown(tmp_path):
    now = [1000.0]
    workspace = tmp_path / "ws"
    workspace.mkdir()
    advisor = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), ["grep", "index"], workspace, epsilon=1.0, seed=5,
                          cooldowns={"index": 300}, clock=lambda: now[0])
    advisor.emit(TaskStarted("refresh the index"))
    assert {advisor.advise().tool for _ in range(40)} == {"grep", "index"}
    advisor.emit(one_call("index", "3 files"))
    now[0] += 299
    assert {advisor.advise().tool for _ in range(40)} == {"grep"}
    # The cooldown survives the session: it is part of the saved state.
    again = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), ["grep", "index"], workspace, epsilon=1.0, seed=5,
                        cooldowns={"index": 300}, clock=lambda: now[0])
    again.emit(TaskStarted("refresh the index"))
    assert {again.advise().tool for _ in range(40)} == {"grep"}
    now[0] += 2
    assert "index" in {again.advise().tool for _ in range(40)}


def test_a_declined_call_is_scored_as_rejected(tmp_path):
    agent, *_ = agent_with(tmp_path, [
        {"thought": "fix", "tool": "edit_file", "arguments": {"path": "calc.py", "search": "a - b", "replace": "a + b"}},
        {"thought": "fine", "tool": "edit_file", "arguments": {"path": "calc.py", "search": "a - b", "replace": "b + a"}},
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "ok"}},
    ], approver=lambda call, preview, answers=["no", "yes"]: answers.pop(0), approval="ask")
    agent.run("fix add")
    rewards = read_events(tmp_path / "ws" / ".locoder" / "rl_events.jsonl")
    assert [e["parts"] for e in rewards] == [
        {"error": -0.4, "rejected": -0.5, "task_done": 0.3},
        {"ok": 0.4, "approved": 0.2, "task_done": 0.3},
    ]


def test_a_corrupt_policy_is_moved_aside_and_learning_restarts(tmp_path):
    state_dir = tmp_path / "ws" / ".locoder"
    state_dir.mkdir(parents=True)
    (state_dir / "rl_state.json").write_text('{"schema": 1, "arms": [')
    agent, advisor, _, _ = agent_with(tmp_path, [
        {"thought": "done", "tool": "list_files", "arguments": {}},
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "x"}}])
    assert "could not be read" in advisor.warning and "learning starts over" in advisor.warning
    assert agent.run("list").ok
    assert list(state_dir.glob("rl_state.json.corrupt-*"))
    assert json.loads((state_dir / "rl_state.json").read_text())["counts"]["list_files"] == 1


def test_two_sessions_in_one_workspace_add_up_their_learning(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    first = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), ["grep", "read_file"], workspace, seed=1)
    second = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), ["grep", "read_file"], workspace, seed=2)  # loaded at the same time
    for advisor, tool in ((first, "grep"), (second, "read_file"), (first, "grep")):
        advisor.emit(TaskStarted("where is x"))
        advisor.advise()
        advisor.emit(one_call(tool, "found"))
        advisor.emit(finished("submitted", "x"))
    saved = ToolAdvisor(StatePaths.at(workspace / ".locoder", workspace), ["grep", "read_file"], workspace).state
    assert saved.counts == {"grep": 2, "read_file": 1} and saved.steps == 3
    expected = bandit.BanditState.fresh(["grep", "read_file"])
    for tool in ("grep", "read_file", "grep"):
        x = bandit.featurize(bandit.Situation("where is x"), expected.dim)
        expected = bandit.update(expected, tool, x, 0.7)
    assert np.allclose(saved.a_inv["grep"], expected.a_inv["grep"], atol=1e-5)
    assert np.allclose(saved.b["read_file"], expected.b["read_file"], atol=1e-5)


def test_a_cancelled_task_still_saves_what_the_steps_showed(tmp_path):
    agent, *_ = agent_with(tmp_path, [{"thought": "look", "tool": "list_files", "arguments": {}}])

    agent.model.replies.append({"thought": "x", "tool": "final_answer", "arguments": {"answer": "x"}})
    original = agent.model.query
    calls = []

    def query(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    agent.model.query = query
    assert agent.run("list the files").status == "cancelled"
    rewards = read_events(tmp_path / "ws" / ".locoder" / "rl_events.jsonl")
    assert [(e["tool"], e["parts"], e["status"]) for e in rewards] == [("list_files", {"ok": 0.4}, "cancelled")]


def test_log_errors_are_seen_in_the_tail_of_logs(tmp_path):
    assert not logs_have_errors(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("INFO ok\n" * 20000 + "INFO started\n")
    assert not logs_have_errors(tmp_path)
    with open(tmp_path / "logs" / "app.log", "a") as f:
        f.write("Traceback (most recent call last):\n")
    assert logs_have_errors(tmp_path)


def test_curves_judge_only_what_a_step_can_tell():
    events = [{"type": "reward", "reward": 1.0, "followed": True},    # right
              {"type": "reward", "reward": 0.0, "followed": True},    # wrong
              {"type": "reward", "reward": 0.9, "followed": False},   # another tool was right: wrong
              {"type": "reward", "reward": -0.4, "followed": False}]  # says nothing
    assert totals(events) == {"steps": 4, "mean_reward": 0.375, "followed": 0.5, "accuracy": 0.333, "judged": 3}
    assert curves(events, window=2)["accuracy"] == [1.0, 0.5, 0.0, 0.0]


# -- the commands -----------------------------------------------------------------------------------------
def locoder(*args, cwd=None, env_home=None):
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(env_home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "locoder", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def project_venv(repo: Path) -> None:
    """The project's own Python (run_tests uses .venv/bin/python): this interpreter, which has pytest."""
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


@pytest.fixture
def shop(tmp_path):
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    project_venv(repo)
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([
        {"thought": "run the tests", "tool": "run_tests", "arguments": {}},
        {"thought": "fix add", "tool": "edit_file", "arguments": {"path": "calc.py", "search": "a - b", "replace": "a + b"}},
        {"thought": "check", "tool": "run_tests", "arguments": {}},
        {"thought": "done", "tool": "final_answer", "arguments": {"answer": "add adds now"}},
    ]))
    return repo, replies


def test_a_real_session_learns_and_rl_status_and_plot_show_it(shop, tmp_path):
    repo, replies = shop
    out = locoder("run", "fix the failing test", "-w", str(repo), "-m", f"scripted:{replies}", "--no-memory",
                  env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("suggested tool: ") == 4
    rewards = read_events(repo / ".locoder" / "rl_events.jsonl")
    # Real pytest runs: failing, then passing after the edit (same size, same second: no stale bytecode).
    assert [(e["tool"], e["reward"]) for e in rewards] == [("run_tests", 0.7), ("edit_file", 1.0), ("run_tests", 1.0)]
    assert rewards[1]["parts"]["tests_fixed"] == 0.5
    status = json.loads(locoder("rl", "status", "-w", str(repo), "--json", env_home=tmp_path).stdout)
    assert {r["tool"]: r["count"] for r in status["tools"] if r["count"]} == {"run_tests": 2, "edit_file": 1}
    assert status["steps"] == 3 and status["suggestions"]["steps"] == 3
    assert status["cooldowns"] == {} and status["policy"]["start of a task"][0]["tool"] in ("run_tests", "edit_file")
    png = tmp_path / "curve.png"
    plotted = locoder("rl", "plot", "-w", str(repo), "--out", str(png), env_home=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (800, 600)
    assert locoder("rl", "reset", "-w", str(repo), env_home=tmp_path).returncode == 0
    assert not (repo / ".locoder" / "rl_state.json").exists()


def test_no_rl_suggests_nothing_and_writes_nothing(shop, tmp_path):
    repo, replies = shop
    out = locoder("run", "fix the failing test", "-w", str(repo), "-m", f"scripted:{replies}", "--no-memory",
                  "--no-rl", env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "suggested tool" not in out.stdout
    assert not (repo / ".locoder" / "rl_state.json").exists() and not (repo / ".locoder" / "rl_events.jsonl").exists()
    assert "nothing to plot" in locoder("rl", "plot", "-w", str(repo), env_home=tmp_path).stderr


def test_rl_config_init_writes_settings_that_load(tmp_path):
    from locoder.config import load_settings

    out_file = tmp_path / "rl.toml"
    assert locoder("rl", "config", "init", "--out", str(out_file), env_home=tmp_path).returncode == 0
    text = out_file.read_text()
    assert "# How often the bandit suggests a random tool" in text and 'rl_cooldowns = ["index=300", "emb_index=600"]' in text
    (tmp_path / ".locoder.toml").write_text(text.replace("rl_epsilon = 0.05", "rl_epsilon = 0.2"))
    settings = load_settings({"workspace": str(tmp_path)}, env={}, user_config=tmp_path / "none.toml")
    assert settings.rl and settings.rl_epsilon == 0.2 and settings.cooldowns() == {"index": 300.0, "emb_index": 600.0}
    again = locoder("rl", "config", "init", "--out", str(out_file), env_home=tmp_path)
    assert again.returncode != 0 and "exists" in again.stderr
