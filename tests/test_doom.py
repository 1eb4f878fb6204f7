"""The doom-loop guard: the same failing command, or the same edit undone and redone, ends the task with a
clear reason even when other calls come in between (the repeat checks do not see that)."""

import pytest

from conftest import action
from locoder.agent.doom import DoomGuard
from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.summary import ADVICE
from locoder.audit import AuditLog, read_audit_log
from locoder.exceptions import TaskFailed
from locoder.messages import CommandRun, FileChange, TestCounts, ToolCall, ToolResult
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, default_tools

FAILING = "python3 -c \"import calc; assert calc.scale(2) == 5, 'scale(2) is not 5'\""


def make_agent(repo, tmp_path, replies, **config):
    model = ScriptedModel(replies)
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=20))
    agent = Agent(model, box, AgentConfig(max_steps=40, **config), "system", sinks=[AuditLog(tmp_path / "a.jsonl")])
    return agent, model


def edit(i):
    return action("edit_file", path="calc.py", search=f"    return x * {i + 3}", replace=f"    return x * {i + 4}")


def test_the_same_command_failing_the_same_way_ends_the_task_even_with_edits_between(repo, tmp_path):
    replies = []
    for i in range(6):
        replies += [edit(i), action("run_command", command=FAILING)]
    agent, model = make_agent(repo, tmp_path, replies)
    result = agent.run("make scale(2) return 5")
    assert result.status == "failed" and result.stop == "doom_loop"
    assert "failed the same way 4 times" in result.answer and "scale(2) == 5" in result.answer
    assert result.steps == 8  # edit, run, edit, run, edit, run (warned), edit, run (stopped)
    warned = model.requests[6]["messages"][-1].content
    assert "failed the same way 3 times" in warned and "find the cause first" in warned
    assert [r["stop"] for r in read_audit_log(tmp_path / "a.jsonl") if r["type"] == "result"] == ["doom_loop"]
    assert "doom_loop" in ADVICE


def test_a_command_that_fails_differently_each_time_is_not_a_doom_loop(repo, tmp_path):
    replies = [action("run_command", command=f"python3 -c 'import sys; sys.exit({code})'") for code in (1, 2, 3)]
    replies = [r for pair in zip(replies, [edit(i) for i in range(3)]) for r in pair]
    replies += [action("run_command", command="python3 -c 'import sys; sys.exit(4)'"), action("final_answer", answer="ok")]
    agent, _ = make_agent(repo, tmp_path, replies, doom_limit=3)
    assert agent.run("try exit codes").ok


def test_an_edit_undone_and_redone_ends_the_task(repo, tmp_path):
    original = (repo / "calc.py").read_text()
    changed = original.replace("x * 3", "x * 4")
    flip = [action("write_file", thought=f"version {i}", path="calc.py", content=changed if i % 2 == 0 else original)
            for i in range(6)]
    replies = [r for i, w in enumerate(flip) for r in (w, action("read_file", path="calc.py", start_line=1 + i))]
    agent, model = make_agent(repo, tmp_path, replies)
    result = agent.run("fix scale")
    # changed (new), original (back once: an undo is fine), changed (twice: warned), original (three times: stop)
    assert result.stop == "doom_loop" and "calc.py was set back to earlier content 3 times" in result.answer
    assert result.steps == 7
    warned = model.requests[5]["messages"][-1].content
    assert "undone and redone" in warned


def test_the_guard_reads_typed_results_only():
    guard = DoomGuard(limit=3)
    call = ToolCall("run_tests", {})
    red = CommandRun("pytest -q", 1, TestCounts(3, 1, ("test_a.py::test_x",)))
    other = CommandRun("pytest -q", 1, TestCounts(3, 1, ("test_a.py::test_y",)))
    assert guard.check(ToolResult(call, "text says nothing", data=red)) == ""
    assert guard.check(ToolResult(call, "", data=other)) == ""  # another failing test: progress, not a loop
    assert "failed the same way 2 times" in guard.check(ToolResult(call, "", data=red))
    assert guard.check(ToolResult(call, "exit 1 exit 1 exit 1", ok=False)) == ""  # no data, no count
    assert guard.check(ToolResult(call, "", data=CommandRun("pytest -q", 0))) == ""
    same = FileChange("a.py", "h1", "h1")
    for _ in range(5):
        assert guard.check(ToolResult(ToolCall("edit_file", {}), "", data=same)) == ""  # no-op writes do not count
    with pytest.raises(TaskFailed, match="failed the same way 3 times") as stopped:
        guard.check(ToolResult(call, "", data=red))
    assert stopped.value.stop == "doom_loop"
