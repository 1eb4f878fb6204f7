"""``locoder run --json`` (the JSONL stream, validated against its schema file), ``--output-last-message``,
``--quiet``, ``NO_COLOR`` and plain output when stdout is not a terminal: the real CLI in subprocesses, a
scripted model for the loop's logic and the workflows, real git repositories, real pytest runs; one test with
the real embedded model (e2e)."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import action
from locoder.agent.jsonstream import SCHEMA, JsonStream
from locoder.audit import read_audit_log
from locoder.events import RunResult, TaskFinished, TaskStarted, ToolStarted
from locoder.messages import ToolCall, Usage
from locoder.tools import run_command

BASE_ENV = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
"""What every run here gets from outside: where programs are, and which locoder is tested."""
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|38;[0-9;]+|9[0-7])m")
"""An SGR sequence that sets a foreground colour (rich writes bold and colour together: ``1;36``)."""


def locoder(repo: Path, tmp_path: Path, replies: list, *args: str, env: dict | None = None, timeout: int = 120):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    full = {"HOME": str(tmp_path / "home"), **BASE_ENV, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "locoder", "-w", str(repo), "--model", f"scripted:{path}",
                           "--no-rl", "--no-memory", "run", *args], capture_output=True, text=True, timeout=timeout,
                          env=full)


def events_of(stdout: str) -> list[dict]:
    """Every line of stdout, parsed and valid against the schema (nothing else may be on stdout)."""
    lines = stdout.splitlines()
    assert lines, "no JSON lines on stdout"
    events = [json.loads(line) for line in lines]
    for event in events:
        VALIDATOR.validate(event)
    return events


def check_order(events: list[dict]) -> None:
    """thread.started, turn.started, then items, then the turn's end; each started item completes once."""
    assert events[0]["type"] == "thread.started" and events[1]["type"] == "turn.started"
    assert events[-1]["type"] in ("turn.completed", "turn.failed")
    assert all(e["type"].startswith("item.") for e in events[2:-1]), [e["type"] for e in events]
    started = {e["item"]["id"]: e["item"]["type"] for e in events if e["type"] == "item.started"}
    completed = [e["item"] for e in events if e["type"] == "item.completed"]
    assert len({i["id"] for i in completed}) == len(completed), "an item completed twice"
    assert {i["id"]: i["type"] for i in completed if i["id"] in started} == started
    for item_id in started:
        first = next(n for n, e in enumerate(events) if e.get("item", {}).get("id") == item_id)
        assert events[first]["type"] == "item.started"


def items(events: list[dict], kind: str) -> list[dict]:
    return [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind]


def test_the_schema_refuses_what_the_stream_must_not_write():
    VALIDATOR.validate({"type": "turn.completed", "status": "submitted", "stop": "answer",
                        "usage": {"input_tokens": 1, "cached_input_tokens": 0, "output_tokens": 2}})
    bad = [{"type": "item.completed", "item": {"id": "item_0", "type": "command_execution", "command": "ls"}},
           {"type": "item.started", "item": {"id": "item_0", "type": "agent_message", "text": "x"}},
           {"type": "turn.completed", "status": "failed", "stop": "x",
            "usage": {"input_tokens": 1, "cached_input_tokens": 0, "output_tokens": 2}},
           {"type": "thread.started"}, {"type": "something.else"}]
    for line in bad:
        assert not VALIDATOR.is_valid(line), line


def test_a_scripted_task_streams_every_kind_of_item_in_order(tmp_path, repo):
    replies = [action("write_file", thought="make hello", path="hello.py", content="print('hi')\n"),
               action("run_command", thought="run it", command="python3 hello.py"),
               action("run_command", thought="a failing one", command="python3 -c 'import sys; sys.exit(3)'"),
               action("read_file", thought="look", path="calc.py"),
               "not a tool call",
               action("final_answer", thought="done", answer="created and ran hello.py")]
    out = locoder(repo, tmp_path, replies, "--json", "make hello")
    assert out.returncode == 0, out.stderr
    events = events_of(out.stdout)
    check_order(events)
    records = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")
    assert events[0]["thread_id"] == records[0]["session"]
    kinds = [e["item"]["type"] for e in events if e["type"] == "item.completed"]
    assert kinds == ["reasoning", "file_change", "reasoning", "command_execution", "reasoning", "command_execution",
                     "reasoning", "tool_call", "error", "reasoning", "agent_message"]
    assert items(events, "file_change") == [{"id": "item_1", "type": "file_change", "status": "completed",
                                             "changes": [{"path": "hello.py", "kind": "add"}]}]
    ok, failed = items(events, "command_execution")
    assert ok["command"] == "python3 hello.py" and ok["exit_code"] == 0 and ok["status"] == "completed"
    assert "hi" in ok["aggregated_output"]
    assert failed["exit_code"] == 3 and failed["status"] == "failed"
    started = [e["item"] for e in events if e["type"] == "item.started"]
    assert [(i["command"], i["status"], i["exit_code"]) for i in started] == [
        ("python3 hello.py", "in_progress", None), ("python3 -c 'import sys; sys.exit(3)'", "in_progress", None)]
    read = items(events, "tool_call")[0]
    assert read["tool"] == "read_file" and read["arguments"] == {"path": "calc.py"} and "return a + b" in read["output"]
    assert items(events, "error")[0]["message"].startswith("unusable reply:")
    assert [i["text"] for i in items(events, "reasoning")] == ["make hello", "run it", "a failing one", "look", "done"]
    assert items(events, "agent_message")[0]["text"] == "created and ran hello.py"
    result = next(r for r in records if r["type"] == "result")
    assert events[-1] == {"type": "turn.completed", "status": "submitted", "stop": "answer",
                          "usage": {"input_tokens": result["usage"]["prompt_tokens"],
                                    "cached_input_tokens": result["usage"]["cached_tokens"],
                                    "output_tokens": result["usage"]["completion_tokens"]}}
    # The human view and the summary went to stderr.
    assert "step 1" in out.stderr and "session summary" in out.stderr and "created and ran hello.py" in out.stderr


def test_a_failed_task_ends_with_turn_failed_and_exit_1(tmp_path, repo):
    out = locoder(repo, tmp_path, ["not a tool call"] * 10, "--json", "do it")
    assert out.returncode == 1
    events = events_of(out.stdout)
    check_order(events)
    end = events[-1]
    assert end["type"] == "turn.failed" and end["status"] == "failed" and end["stop"] == "unparseable"
    assert "could not be used" in end["error"]["message"]
    assert not items(events, "agent_message") and len(items(events, "error")) == 4


def test_bad_settings_give_an_error_line_and_their_exit_code(tmp_path, repo):
    out = locoder(repo, tmp_path, [], "--json", "--max-steps", "0", "x")
    assert out.returncode == 2 and "max_steps must be at least 1" in out.stderr
    (line,) = events_of(out.stdout)
    assert line["type"] == "error" and "max_steps must be at least 1" in line["message"]


@pytest.fixture
def shop(tmp_path):
    """A project whose add() is wrong and whose tests say so, with its own Python (this one, which has pytest)."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "calc.py").write_text('def add(a, b):\n    """Add two numbers."""\n    return a - b\n\n\n'
                                  'def double(x):\n    return add(x, x)\n')
    (root / "test_calc.py").write_text("from calc import add, double\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
                                       "\n\ndef test_double():\n    assert double(0) == 0\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\nversion = '0'\n")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    for args in (["init", "-q"], ["add", "calc.py", "test_calc.py", "pyproject.toml"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def test_an_unverified_answer_completes_the_turn_with_its_status_and_exit_1(tmp_path, shop):
    replies = [action("run_tests", thought="test"), action("final_answer", answer="fixed"),
               action("final_answer", answer="test_add expects the wrong sum")]
    out = locoder(shop, tmp_path, replies, "--json", "--workflow", "loop", "fix the failing test")
    assert out.returncode == 1, out.stderr
    events = events_of(out.stdout)
    check_order(events)
    tests = items(events, "command_execution")[0]  # run_tests: a command, completed alone (it only reads)
    assert "pytest" in tests["command"] and tests["exit_code"] == 1 and tests["status"] == "failed"
    refused = items(events, "tool_call")[0]
    assert refused["tool"] == "final_answer" and refused["status"] == "failed" and "Not done yet" in refused["output"]
    assert items(events, "agent_message")[0]["text"] == "test_add expects the wrong sum"
    assert events[-1]["type"] == "turn.completed" and events[-1]["status"] == "unverified"


def test_the_fix_workflow_streams_its_steps(tmp_path, shop):
    fixed = 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n'
    out = locoder(shop, tmp_path, [f"The operator is wrong.\n```python\n{fixed}```"], "--json", "--workflow", "fix",
                  "add(2, 3) returns -1 instead of 5", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    events = events_of(out.stdout)
    check_order(events)
    steps = items(events, "workflow_step")
    assert [s["phase"] for s in steps] == ["localise", "repair"]
    assert steps[0]["details"]["candidates"][0].startswith("calc.py:1-3 add")
    assert steps[1]["status"] == "completed" and steps[1]["details"]["function"] == "calc.py:add"
    runs = [c for c in items(events, "command_execution") if "-m pytest" in c["command"]]
    assert len(runs) == 4 and runs[0]["status"] == "failed" and runs[0]["exit_code"] == 1
    assert runs[-1]["status"] == "completed" and runs[-1]["exit_code"] == 0
    assert items(events, "reasoning")[0]["text"] == "The operator is wrong."
    assert items(events, "agent_message")[0]["text"].startswith("Fixed add in calc.py")
    assert events[-1]["type"] == "turn.completed"


def test_the_ask_workflow_streams_what_it_read(tmp_path, shop):
    out = locoder(shop, tmp_path, ["double returns add(x, x) (calc.py:7)."], "--json", "--workflow", "ask",
                  "what does double in calc.py return?")
    assert out.returncode == 0, out.stderr[-3000:]
    events = events_of(out.stdout)
    check_order(events)
    (read,) = items(events, "workflow_step")
    assert read["phase"] == "retrieve" and read["details"]["sources"][0] == "calc.py:6-7 double"
    assert items(events, "agent_message")[0]["text"].startswith("double returns add(x, x)")


def test_output_last_message_writes_the_answer_and_bad_paths_stop_before_the_task(tmp_path, repo):
    target = tmp_path / "out" / "deeper" / "last.txt"
    out = locoder(repo, tmp_path, [action("final_answer", answer="the answer\nin two lines")],
                  "--output-last-message", str(target), "x")
    assert out.returncode == 0, out.stderr
    assert target.read_text() == "the answer\nin two lines\n"
    # A task without an answer leaves the file empty: no stale answer of an earlier run.
    out = locoder(repo, tmp_path, ["nothing usable"] * 10, "-o", str(target), "x")
    assert out.returncode == 1 and target.read_text() == ""
    # A folder is refused before anything runs (the task, and its audit record, never start).
    log = repo / ".locoder" / "logs" / "agent_audit.jsonl"
    before = log.read_text()
    out = locoder(repo, tmp_path, [action("final_answer", answer="x")], "--json", "-o", str(tmp_path), "x")
    assert out.returncode == 2 and "is a directory" in out.stderr
    assert [e["type"] for e in events_of(out.stdout)] == ["error"] and log.read_text() == before


def test_quiet_prints_only_the_answer(tmp_path, repo):
    replies = [action("run_command", command="echo hi"), action("final_answer", answer="all done")]
    out = locoder(repo, tmp_path, replies, "--quiet", "x")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "all done\n" and out.stderr == ""
    out = locoder(repo, tmp_path, ["nothing usable"] * 10, "-q", "x")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("locoder: failed: the model's output could not be used")
    # With --json: the stream alone, nothing on stderr.
    out = locoder(repo, tmp_path, [action("final_answer", answer="all done")], "--json", "-q", "x")
    assert out.returncode == 0 and out.stderr == ""
    assert items(events_of(out.stdout), "agent_message")[0]["text"] == "all done"


def test_secrets_are_redacted_in_the_stream(tmp_path, repo):
    secret = "hunter2-but-longer-9f8e7d"
    out = locoder(repo, tmp_path, [action("final_answer", answer=f"the key is {secret}")], "--json", "x",
                  env={"MY_SERVICE_API_KEY": secret})
    assert out.returncode == 0, out.stderr
    assert secret not in out.stdout and "REDACTED" in items(events_of(out.stdout), "agent_message")[0]["text"]


def test_a_reader_that_goes_away_does_not_stop_the_task(tmp_path, repo):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([action("write_file", path="a.txt", content="a\n"), action("final_answer", answer="ok")]))
    env = {"HOME": str(tmp_path / "home"), **BASE_ENV}
    read, write = os.pipe()
    os.close(read)  # nobody reads the stream
    done = subprocess.run([sys.executable, "-m", "locoder", "-w", str(repo), "-m", f"scripted:{path}", "--no-rl",
                           "run", "--json", "x"], stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    os.close(write)
    assert done.returncode == 0, done.stderr
    assert "the JSON stream cannot be written" in done.stderr and "Traceback" not in done.stderr
    assert (repo / "a.txt").read_text() == "a\n"


def test_a_command_still_running_when_the_task_ends_completes_as_failed():
    out = io.StringIO()
    stream = JsonStream(out)
    stream.emit(TaskStarted("x"))
    stream.emit(ToolStarted(1, ToolCall("run_command", {"command": "sleep 100"}), run_command, "wait"))
    stream.emit(TaskFinished(RunResult("cancelled", "cancelled by the user", 1, Usage(), 1.0, "cancelled")))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    for event in events:
        VALIDATOR.validate(event)
    assert [e["type"] for e in events] == ["turn.started", "item.completed", "item.started", "item.completed",
                                           "turn.failed"]
    assert events[3]["item"] == {"id": "item_1", "type": "command_execution", "command": "sleep 100",
                                 "aggregated_output": "", "exit_code": None, "status": "failed"}
    assert events[4]["status"] == "cancelled"


def test_no_colour_when_piped_or_with_no_color(tmp_path, repo):
    import pexpect

    path = tmp_path / "replies.json"
    replies = [action("read_file", path="calc.py"), action("final_answer", answer="done")]
    env = {"HOME": str(tmp_path / "home"), **BASE_ENV, "TERM": "xterm-256color", "COLUMNS": "120"}

    def in_terminal(**extra) -> str:
        path.write_text(json.dumps(replies))
        child = pexpect.spawn(sys.executable, ["-m", "locoder", "-w", str(repo), "-m", f"scripted:{path}", "--no-rl",
                                               "run", "x"], env={**env, **extra}, encoding="utf-8", timeout=60)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        return child.before

    assert COLOUR.search(in_terminal()), "no colour in a terminal: the check below would prove nothing"
    plain = in_terminal(NO_COLOR="1")
    assert not COLOUR.search(plain) and "done" in plain
    # Piped: no escape sequence at all, and the answer as plain lines.
    path.write_text(json.dumps(replies))
    out = subprocess.run([sys.executable, "-m", "locoder", "-w", str(repo), "-m", f"scripted:{path}", "--no-rl",
                          "run", "x"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and "\x1b[" not in out.stdout + out.stderr
    assert "answer:\ndone\n" in out.stdout and "╭" not in out.stdout


@pytest.mark.e2e
def test_a_real_model_task_streams_valid_events(repo):
    """The stream of a task done by the real embedded model (Qwen2.5-Coder-1.5B): valid, in order, with the
    file it wrote and the command it ran."""
    from locoder.models.installer import ModelStore

    ModelStore().ensure("qwen2.5-coder-1.5b")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("OPENAI_BASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "locoder", "run", "create hello.py that prints hello and run it",
                          "-w", str(repo), "-m", "qwen2.5-coder-1.5b", "--temperature", "0", "--max-steps", "8",
                          "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    events = events_of(out.stdout)  # the model server's own output must not reach stdout
    check_order(events)
    assert {"path": "hello.py", "kind": "add"} in [c for i in items(events, "file_change") for c in i["changes"]]
    assert any("hello.py" in c["command"] and c["exit_code"] == 0 for c in items(events, "command_execution"))
    assert items(events, "agent_message") and events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"]["input_tokens"] > 0 and events[-1]["usage"]["output_tokens"] > 0
