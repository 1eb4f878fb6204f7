"""Typed events: each one's ``to_dict()`` is exactly the record the audit log has always written (schema 1)."""

import json

from conftest import action
from locoder.agent.loop import Agent, AgentConfig
from locoder.audit import AuditLog, read_audit_log
from locoder.audit.log import SCHEMA_VERSION
from locoder.events import (
    ApprovalAnswered,
    ApprovalAsked,
    Attempt,
    Error,
    Localised,
    ModelTurn,
    Observation,
    Progress,
    RunResult,
    SessionStarted,
    Step,
    Suggested,
    SummaryWritten,
    TaskFinished,
    TaskStarted,
    Thinking,
    ToolFinished,
    ToolStarted,
    Warned,
)
from locoder.messages import ModelResponse, ToolCall, ToolResult, Usage
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, default_tools

HEAD = ("schema", "ts", "session")
LOOP_STEP = ["type", "step", "compacted", "prompt_messages", "prompt_chars", "raw_output", "reasoning", "native_calls",
             "finish_reason", "usage", "model_seconds", "first_token_seconds", "thought", "calls", "observations"]


def test_every_record_of_a_run_is_its_events_to_dict(repo, tmp_path):
    events = []

    class Sink:
        def emit(self, event):
            events.append(event)

    log = tmp_path / "audit.jsonl"
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=10))
    replies = [action("read_file", path="calc.py"), "no json here", action("run_command", command="echo hi"),
               action("final_answer", answer="done")]
    agent = Agent(ScriptedModel(replies), box, AgentConfig(), "system", sinks=[AuditLog(log), Sink()])
    assert agent.run("read and run").ok
    records = [{k: v for k, v in r.items() if k not in HEAD} for r in read_audit_log(log)]
    assert all(r["schema"] == SCHEMA_VERSION == 1 for r in read_audit_log(log))
    # The same values through JSON: what a sink reads as fields is what the log holds.
    assert records == [json.loads(json.dumps(e.to_dict())) for e in events if not e.transient]
    assert [r["type"] for r in records] == ["task", "step", "step", "step", "step", "result"]
    assert list(records[0]) == ["type", "task", "context_chars"]
    read, bad, run, final = records[1:5]
    assert list(read) == LOOP_STEP and list(run) == LOOP_STEP
    assert [k for k in bad if k not in LOOP_STEP] == ["format_error"] and "calls" not in bad
    assert read["calls"] == [{"tool": "read_file", "arguments": {"path": "calc.py"}}]
    assert list(read["observations"][0]) == ["tool", "ok", "output", "seconds", "approval"]
    assert run["observations"][0]["output"].startswith("$ echo hi\n[exit code 0]\nhi")
    assert final["calls"][0]["tool"] == "final_answer" and final["observations"] == []
    assert list(records[-1]) == ["type", "status", "answer", "steps", "usage", "seconds", "stop"]
    assert records[-1]["usage"]["prompt_tokens"] >= 0 and records[-1]["status"] == "submitted"
    # The live view: a call starts and finishes between the thinking and the step it belongs to.
    live = [e.to_dict()["type"] for e in events if e.transient]
    assert live[:3] == ["thinking", "tool_started", "tool_finished"]


def test_the_workflows_records_keep_their_fields():
    response = ModelResponse("{\"thought\": \"x\"}", usage=Usage(10, 5), seconds=1.23456)
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 0, "prompt_processed": None}
    call = ToolCall("run_command", {"command": "ls"})
    result = ToolResult(call, "$ ls\n[exit code 0]\na.py", seconds=0.12345, approval="yes")
    # What the fix workflow, the ask workflow, the factory, the router and the CLI wrote as dicts before.
    assert TaskStarted("fix it", workflow="fix").to_dict() == {"type": "task", "task": "fix it", "workflow": "fix"}
    assert Step(3, "reproduce", harness=True, calls=[call], observations=[Observation(result, "shown")]).to_dict() == {
        "type": "step", "step": 3, "phase": "reproduce", "harness": True,
        "calls": [{"tool": "run_command", "arguments": {"command": "ls"}}],
        "observations": [{"tool": "run_command", "ok": True, "output": "shown", "seconds": 0.123, "approval": "yes"}]}
    assert Step(4, "repair", harness=True, thought="x", turn=ModelTurn(response, 99), temperature=0.7).to_dict() == {
        "type": "step", "step": 4, "phase": "repair", "harness": True, "thought": "x", "raw_output": response.content,
        "prompt_chars": 99, "usage": usage, "model_seconds": 1.235, "temperature": 0.7}
    assert Step(1, "retrieve", harness=True, retrieved=["calc.py:1-3 add"]).to_dict() == {
        "type": "step", "step": 1, "phase": "retrieve", "harness": True, "retrieved": ["calc.py:1-3 add"]}
    assert Step(2, "answer", harness=True, turn=ModelTurn(response, 50)).to_dict() == {
        "type": "step", "step": 2, "phase": "answer", "harness": True, "raw_output": response.content,
        "usage": usage, "model_seconds": 1.235, "prompt_chars": 50}
    assert Localised(["calc.py:add (score 0.9)"]).to_dict() == {"type": "localised",
                                                                 "candidates": ["calc.py:add (score 0.9)"]}
    assert Attempt(1, 3, False, "calc.py:add", 0.0, "fenced").to_dict() == {
        "type": "attempt", "number": 1, "of": 3, "ok": False, "function": "calc.py:add", "temperature": 0.0,
        "form": "fenced"}
    assert Warned("careful").to_dict() == {"type": "warning", "message": "careful"}
    assert list(Warned("ignored x", kind="untrusted_config", ignored=["network"]).to_dict().items()) == [
        ("type", "warning"), ("kind", "untrusted_config"), ("ignored", ["network"]), ("message", "ignored x")]
    assert Error("ValueError", "bad", step=2).to_dict() == {"type": "error", "step": 2, "error": "ValueError",
                                                            "message": "bad"}
    assert Error("ValueError", "bad").to_dict() == {"type": "error", "error": "ValueError", "message": "bad"}
    run = RunResult("failed", "no", 2, Usage(1, 2), 3.5, "no_repair")
    assert TaskFinished(run).to_dict() == {"type": "result", "status": "failed", "answer": "no", "steps": 2,
                                           "usage": {**usage, "prompt_tokens": 1, "completion_tokens": 2},
                                           "seconds": 3.5, "stop": "no_repair"}
    assert SummaryWritten({"session": "s", "tasks": []}).to_dict() == {"type": "summary", "session": "s", "tasks": []}
    session = SessionStarted("0.1", "m", "text", 8192, None, "qwen", "openai", ["grep"], {}, "sys", {}, {}).to_dict()
    assert list(session) == ["type", "locoder", "model", "tool_mode", "context_window", "server_facts", "profile",
                             "backend", "tools", "settings", "system_prompt", "sandbox", "policy"]


def test_transient_events_keep_their_live_shape_and_never_reach_the_log(tmp_path):
    advice = {"tool": "grep", "why": "no experience yet", "arguments": {"pattern": "x"}, "expected": 0.0, "tries": 0,
              "hint": False}
    assert Suggested(2, **advice).to_dict() == {"type": "suggestion", "step": 2, "transient": True, **advice}
    assert Thinking(1).to_dict() == {"type": "thinking", "step": 1, "transient": True}
    assert Progress("indexing", 1, 4).to_dict() == {"type": "progress", "transient": True, "label": "indexing",
                                                    "done": 1, "total": 4}
    call = ToolCall("write_file", {"path": "a.py", "content": "x"})
    log = AuditLog(tmp_path / "audit.jsonl")
    for event in (Suggested(2, **advice), Thinking(1), Progress("indexing", 1, 4), ToolStarted(1, call),
                  ApprovalAsked(call, "+x"), ApprovalAnswered(call, "yes"), ToolFinished(1, ToolResult(call, "ok"))):
        assert event.transient and event.to_dict()["transient"] is True
        log.emit(event)
    assert not (tmp_path / "audit.jsonl").exists()
