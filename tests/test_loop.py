import json
from pathlib import Path

import pytest

from conftest import action
from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.window import summarise
from locoder.audit import AuditLog, read_audit_log
from locoder.exceptions import FormatError
from locoder.messages import Message
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, default_tools


def make_agent(repo: Path, replies, tmp_path: Path | None = None, **config) -> tuple[Agent, ScriptedModel, Path]:
    model = ScriptedModel(replies)
    log = (tmp_path or repo) / "audit.jsonl"
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=10))
    agent = Agent(model, box, AgentConfig(**config), "system prompt", sinks=[AuditLog(log)])
    return agent, model, log


def test_task_runs_tools_and_submits(repo, tmp_path):
    replies = [
        action("write_file", path="hello.py", content="print('hello')\n"),
        action("run_command", command="python3 hello.py"),
        action("final_answer", answer="hello.py prints hello"),
    ]
    agent, model, log = make_agent(repo, replies, tmp_path)
    result = agent.run("create hello.py and run it")
    assert result.ok and result.answer == "hello.py prints hello" and result.steps == 3
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    # The model saw the run output as an observation.
    last_prompt = model.requests[-1]["messages"]
    assert last_prompt[-1].role == "tool" and "hello" in last_prompt[-1].content and "[exit code 0]" in last_prompt[-1].content
    # Constrained decoding was requested with the action schema.
    assert "anyOf" in model.requests[0]["schema"]


def test_audit_log_has_one_line_per_step_with_the_details(repo, tmp_path):
    agent, _, log = make_agent(repo, [action("read_file", path="calc.py"), action("final_answer", answer="ok")], tmp_path)
    agent.run("read calc.py")
    records = read_audit_log(log)
    assert [r["type"] for r in records] == ["task", "step", "step", "result"]
    step = records[1]
    assert step["schema"] == 1 and step["step"] == 1 and step["calls"] == [{"tool": "read_file", "arguments": {"path": "calc.py"}}]
    assert step["raw_output"].startswith("{") and step["prompt_chars"] > 0 and "usage" in step
    assert step["observations"][0]["ok"] and "def add" in step["observations"][0]["output"]
    assert records[-1]["status"] == "submitted"


def test_format_errors_are_retried_then_the_task_fails_cleanly(repo, tmp_path):
    agent, model, log = make_agent(repo, ["no json here"] * 5, tmp_path, format_retries=2)
    result = agent.run("do something")
    assert result.status == "failed" and "could not be used 3 times" in result.answer
    assert len(model.requests) == 3
    # Each retry told the model what went wrong, with an example.
    assert '"tool"' in model.requests[1]["messages"][-1].content
    assert [r.get("format_error") for r in read_audit_log(log) if r["type"] == "step"] == ["no tool call was found in it"] * 3


def test_a_good_reply_resets_the_format_error_count(repo):
    replies = ["bad", "bad", action("list_files"), "bad", "bad", action("final_answer", answer="done")]
    agent, _, _ = make_agent(repo, replies, format_retries=2)
    assert agent.run("list").ok


def test_same_call_three_times_stops_with_a_clear_message(repo):
    agent, model, _ = make_agent(repo, [action("read_file", path="calc.py")] * 5)
    result = agent.run("loop")
    assert result.status == "failed" and "same call 3 times in a row" in result.answer and "read_file" in result.answer
    warned = model.requests[2]["messages"][-1].content
    assert "Do not repeat it" in warned


def test_going_round_in_circles_stops_as_a_repeat_does(repo, tmp_path):
    """grep, list, read, grep, list, read...: no call twice in a row, but nothing new either (seen on a real
    bug-fix task: 80 steps to the timeout). The third round stops it; the second warns."""
    cycle = [action("grep", pattern="def nothing_here"), action("list_files", path="."),
             action("read_file", path="nope.py")]
    agent, model, _ = make_agent(repo, cycle * 5, tmp_path)  # the audit log outside: grep would find it
    result = agent.run("find it")
    assert result.status == "failed" and "going round in circles" in result.answer and result.steps == 7
    assert "got this same result" in model.requests[4]["messages"][-1].content


def test_the_same_read_after_a_change_is_not_a_circle(repo):
    rounds = []
    for i in range(4):  # read, change, read: the read repeats, but something changed in between
        rounds += [action("read_file", path="calc.py"), action("write_file", path=f"n{i}.txt", content="x")]
    agent, _, _ = make_agent(repo, rounds + [action("final_answer", answer="done")])
    assert agent.run("edit around").ok


def test_step_limit(repo):
    replies = [action("grep", pattern=f"p{i}") for i in range(10)]
    agent, _, _ = make_agent(repo, replies, max_steps=4)
    result = agent.run("search forever")
    assert result.status == "failed" and "4 steps" in result.answer and result.steps == 4


def test_cut_off_output_is_reported_to_the_model(repo):
    replies = [{"content": '{"thought": "writing", "tool": "write_file", "argu', "finish_reason": "length"},
               action("final_answer", answer="ok")]
    agent, model, _ = make_agent(repo, replies)
    assert agent.run("write").ok
    assert "cut off at the token limit" in model.requests[1]["messages"][-1].content


def test_unknown_tool_is_an_observation_and_the_task_goes_on(repo):
    agent, model, _ = make_agent(repo, [action("rm_rf"), action("final_answer", answer="ok")])
    assert agent.run("x").ok
    assert "unknown tool 'rm_rf'" in model.requests[1]["messages"][-1].content


def test_one_action_per_turn_by_default_and_more_when_allowed(repo):
    two = json.dumps({"thought": "t", "actions": [{"tool": "list_files", "arguments": {}},
                                                   {"tool": "grep", "arguments": {"pattern": "def"}}]})
    agent, model, _ = make_agent(repo, [two, action("final_answer", answer="ok")])
    agent.run("x")
    obs = model.requests[1]["messages"][-1].content
    assert "Result of list_files()" in obs and "not run: grep" in obs
    agent, model, _ = make_agent(repo, [two, action("final_answer", answer="ok")], max_actions_per_turn=2)
    agent.run("x")
    obs = model.requests[1]["messages"][-1].content
    assert "Result of list_files()" in obs and "calc.py:1:def add" in obs
    assert model.requests[0]["schema"]["properties"]["actions"]["maxItems"] == 2


def test_long_observations_are_summarised(repo):
    agent, model, _ = make_agent(repo, [action("run_command", command="seq 5000"), action("final_answer", answer="ok")],
                                 observation_summary_chars=1000)
    agent.run("count")
    obs = model.requests[1]["messages"][-1].content
    assert len(obs) < 1300 and "characters omitted" in obs and "\n5000" in obs


def test_read_file_keeps_its_promise_files_up_to_200_lines_arrive_whole(repo):
    (repo / "mid.py").write_text("".join(f"value_{i} = {i}  # a line long enough to add up\n" for i in range(1, 181)))
    (repo / "big.txt").write_text("\n".join(f"line {i}" for i in range(1, 5001)))
    agent, model, _ = make_agent(repo, [action("read_file", path="mid.py"), action("read_file", path="big.txt"),
                                        action("final_answer", answer="ok")], observation_summary_chars=1000)
    agent.run("read them")
    whole = model.requests[1]["messages"][-1].content
    assert "omitted" not in whole and "mid.py (all 180 lines)" in whole and "value_90 = 90" in whole
    big = model.requests[2]["messages"][-1].content
    assert "big.txt (lines 1-200 of 5000; not shown: lines 201-5000)" in big and "line 200" in big
    assert "line 201" not in big and "omitted" not in big


def test_native_and_text_modes_send_tools_or_nothing(repo):
    agent, model, _ = make_agent(repo, [action("final_answer", answer="ok")], tool_mode="native")
    agent.run("x")
    assert model.requests[0]["tools"][0]["type"] == "function" and model.requests[0]["schema"] is None
    agent, model, _ = make_agent(repo, ["Action: final_answer(answer='legacy ok')"], tool_mode="text")
    assert agent.run("x").answer == "legacy ok"
    assert model.requests[0]["tools"] is None and model.requests[0]["schema"] is None


def test_backend_failure_ends_the_task_with_an_error_status(repo):
    agent, _, _ = make_agent(repo, [])
    result = agent.run("x")
    assert result.status == "error" and "no replies left" in result.answer


def test_ctrl_c_cancels_the_step_and_the_session_goes_on(repo, tmp_path):
    class InterruptOnce(ScriptedModel):
        def query(self, messages, **kw):
            if not getattr(self, "interrupted", False):
                self.interrupted = True
                raise KeyboardInterrupt
            return super().query(messages, **kw)

    box = ToolBox(default_tools(), ToolContext(workspace=repo))
    log = tmp_path / "a.jsonl"
    agent = Agent(InterruptOnce([action("final_answer", answer="second")]), box, AgentConfig(), "s", [AuditLog(log)])
    assert agent.run("first").status == "cancelled"
    assert agent.run("second task").answer == "second"
    contents = [m.content for m in agent.messages]
    assert "[The user interrupted the last step.]" in contents and "second task" in contents
    assert [r["status"] for r in read_audit_log(log) if r["type"] == "result"] == ["cancelled", "submitted"]


def test_step_can_be_driven_without_run(repo):
    agent, _, _ = make_agent(repo, ["garbage", action("list_files")])
    agent.messages.append(Message("user", "list"))
    with pytest.raises(FormatError):
        agent.step()
    agent.step()
    assert agent.steps == 2 and "calc.py" in agent.messages[-1].content


def test_summarise_keeps_head_and_tail():
    assert summarise("short", 100) == "short"
    text = "a" * 500 + "b" * 500
    cut = summarise(text, 300)
    assert cut.startswith("a" * 200) and cut.endswith("b" * 100)
