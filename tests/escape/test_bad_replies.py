"""A model server that answers with malformed or hostile replies: each becomes a clear ``BackendError`` (or a
format error the model can correct), never a traceback, and ``locoder run`` always ends its audit log with a
``result`` record. Real HTTP servers (tests/fakeserver.py), the real clients, the real CLI and sandbox."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from escape.world import RUNNERS
from fakeserver import FakeServer
from locoder.audit import read_audit_log
from locoder.exceptions import BackendError, FormatError
from locoder.messages import Message
from locoder.models.ollama import OllamaConfig, OllamaModel
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from locoder.models.parsing import parse_tool_calls

SSE = "text/event-stream"


def sse(*events) -> bytes:
    body = b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


def call_delta(arguments: str) -> dict:
    return {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "read_file",
                                                                           "arguments": arguments}}]}}]}


# name -> (SSE body, "backend" when the client must raise BackendError, "format" when the parser must)
BAD_REPLIES = {
    "event is an array": (sse([1, 2, 3]), "backend"),
    "choices: [null]": (sse({"choices": [None]}), "backend"),
    "delta is a string": (sse({"choices": [{"delta": "hello"}]}), "backend"),
    "usage is a string": (sse({"choices": [], "usage": "lots"}), "backend"),
    "content is 50,000 brackets": (sse({"choices": [{"delta": {"content": "[" * 50_000}}]}), "format"),
    "arguments nested 5,000 deep": (sse(call_delta("[" * 5000 + "]" * 5000)), "format"),
    "arguments with a lone surrogate": (sse(call_delta('{"path": "\\ud800"}')), "format"),
    "event nested 5,000 deep": (sse(b'{"a":' * 5000 + b"1" + b"}" * 5000), "backend"),
    "text-form arguments nested 500 deep": (sse({"choices": [{"delta": {"content": '{"thought": "t", "tool": '
                                                                    '"read_file", "arguments": {"path": "a.txt", '
                                                                    '"x": ' + "[" * 500 + "]" * 500 + "}}"}}]}),
                                            "format"),
    "content is a number": (sse({"choices": [{"delta": {"content": 7}}]}), "backend"),
    "tool_calls is an object": (sse({"choices": [{"delta": {"tool_calls": {"a": 1}}}]}), "backend"),
}


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.close()


def query(server, body: bytes):
    server.answers.append((200, SSE, body))
    model = OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0, timeout=10))
    try:
        response = model.query([Message("user", "hi")])
        return parse_tool_calls(response.content, response.tool_calls, {"read_file": ["path"]})
    finally:
        model.close()


@pytest.mark.parametrize("case", list(BAD_REPLIES))
def test_the_client_turns_each_bad_reply_into_a_clear_error(server, case):
    body, kind = BAD_REPLIES[case]
    start = time.monotonic()
    with pytest.raises(BackendError if kind == "backend" else FormatError) as caught:
        query(server, body)
    assert time.monotonic() - start < 5
    message = str(caught.value) if kind == "backend" else caught.value.reason
    assert ("wrong type" in message or "nested too deeply" in message) if kind == "backend" else message


def locoder_run(workspace: Path, home: Path, url: str, runner: str, *extra: str, timeout: int = 90):
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_SANDBOX"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "locoder", "run", "read a.txt", "-w", str(workspace), "-m", url,
                           "--model-name", "m", "--sandbox", runner, "--workflow", "loop", "--max-steps", "3",
                           "--tool-mode", "native", *extra],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def run_world(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("hello\n")
    home = tmp_path / "home"
    (home / ".config" / "locoder").mkdir(parents=True)
    (home / ".config" / "locoder" / "config.toml").write_text("connect_retries = 0\nrequest_timeout = 20\n")
    return workspace, home


def audit(workspace: Path) -> list[dict]:
    return read_audit_log(workspace / ".locoder" / "logs" / "agent_audit.jsonl")


def assert_clean_end(out, workspace: Path) -> list[dict]:
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    records = audit(workspace)
    assert records and records[-1]["type"] in ("result", "summary"), [r["type"] for r in records]
    assert any(r["type"] == "result" for r in records)
    data = (workspace / ".locoder" / "logs" / "agent_audit.jsonl").read_bytes()
    data.decode("utf-8")  # the log stays valid UTF-8
    return records


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", list(BAD_REPLIES))
def test_locoder_run_ends_with_a_result_record_for_each_bad_reply(server, run_world, runner, case):
    workspace, home = run_world
    body, kind = BAD_REPLIES[case]
    final = sse({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
        "name": "final_answer", "arguments": json.dumps({"answer": "done"})}}]}, "finish_reason": "tool_calls"}]})
    server.answers += [(200, SSE, body), (200, SSE, final)]
    out = locoder_run(workspace, home, server.url, runner)
    records = assert_clean_end(out, workspace)
    result = next(r for r in records if r["type"] == "result")
    if kind == "backend":
        assert result["status"] == "error" and ("wrong type" in result["answer"] or "deeply" in result["answer"])
        assert out.returncode != 0
    else:  # the model was told what was wrong and could answer on the next step
        steps = [r for r in records if r["type"] == "step"]
        assert steps[0]["format_error"] and result["status"] == "submitted", result


def trickle(wfile):
    """An SSE comment every two seconds, forever: each read is quick, the whole never ends."""
    wfile.write(b'data: {"choices": [{"delta": {"content": "{"}}]}\n\n')
    wfile.flush()
    for _ in range(60):
        time.sleep(2)
        wfile.write(b": keep-alive\n\n")
        wfile.flush()


def test_a_trickling_server_cannot_keep_a_request_past_its_deadline(server):
    server.answers.append((200, SSE, trickle))
    model = OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0, timeout=5))
    start = time.monotonic()
    with pytest.raises(BackendError, match="within 5s"):
        model.query([Message("user", "hi")])
    assert time.monotonic() - start < 6.5
    model.close()


@pytest.mark.parametrize("runner", RUNNERS)
def test_locoder_run_gives_up_on_a_trickling_server_at_request_timeout(server, run_world, runner):
    workspace, home = run_world
    (home / ".config" / "locoder" / "config.toml").write_text("connect_retries = 0\nrequest_timeout = 4\n")
    server.answers.append((200, SSE, trickle))
    start = time.monotonic()
    out = locoder_run(workspace, home, server.url, runner)
    assert time.monotonic() - start < 25
    records = assert_clean_end(out, workspace)
    result = next(r for r in records if r["type"] == "result")
    assert result["status"] == "error" and "within 4s" in result["answer"], result


def ndjson(*events) -> bytes:
    return b"".join((e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n" for e in events)


DONE = {"done": True, "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}
OLLAMA_BAD = {
    "line is an array": (ndjson([1, 2], DONE), "backend"),
    "message is a string": (ndjson({"message": "hi"}, DONE), "backend"),
    "tool_calls hold null": (ndjson({"message": {"tool_calls": [None]}}, DONE), "backend"),
    "eval_count is a string": (ndjson({**DONE, "eval_count": "many"}), "backend"),
    "line nested 5,000 deep": (ndjson(b'{"a":' * 5000 + b"1" + b"}" * 5000, DONE), "backend"),
    "arguments are a broken string": (ndjson({"message": {"tool_calls": [{"function": {
        "name": "read_file", "arguments": "{not json"}}]}}, DONE), "format"),
    "arguments hold a lone surrogate": (ndjson(b'{"message": {"tool_calls": [{"function": {"name": "read_file", '
                                               b'"arguments": {"path": "\\ud800"}}}]}}', DONE), "format"),
    "content is 50,000 brackets": (ndjson({"message": {"content": "[" * 50_000}}, DONE), "format"),
}


@pytest.mark.parametrize("case", list(OLLAMA_BAD))
def test_the_ollama_client_turns_each_bad_reply_into_a_clear_error(server, case):
    body, kind = OLLAMA_BAD[case]
    server.answers.append((200, "application/x-ndjson", body))
    model = OllamaModel(OllamaConfig(model="m", base_url=server.url, retries=0))
    try:
        with pytest.raises(BackendError if kind == "backend" else FormatError):
            response = model.query([Message("user", "hi")])
            parse_tool_calls(response.content, response.tool_calls, {"read_file": ["path"]})
    finally:
        model.close()


def test_the_ollama_client_has_a_deadline_for_the_whole_request(server):
    def trickle_lines(wfile):
        for _ in range(30):
            wfile.write(b'{"message": {"content": "a"}}\n')
            wfile.flush()
            time.sleep(1)

    server.answers.append((200, "application/x-ndjson", trickle_lines))
    model = OllamaModel(OllamaConfig(model="m", base_url=server.url, retries=0, first_token_timeout=5,
                                     request_timeout=3))
    start = time.monotonic()
    with pytest.raises(BackendError, match="within 3s"):
        model.query([Message("user", "hi")])
    assert time.monotonic() - start < 4.5
    model.close()


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", ["line is an array", "message is a string", "arguments hold a lone surrogate",
                                  "line nested 5,000 deep"])
def test_locoder_run_with_ollama_ends_with_a_result_record(server, run_world, runner, case):
    workspace, home = run_world
    body, kind = OLLAMA_BAD[case]
    show = (200, "application/json", b'{"model_info": {}, "capabilities": ["tools"]}')
    final = ndjson({"message": {"tool_calls": [{"function": {"name": "final_answer", "arguments": {"answer": "ok"}}}]}},
                   DONE)
    server.answers += [show, (200, "application/x-ndjson", body), (200, "application/x-ndjson", final)]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_SANDBOX", "OLLAMA_HOST"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-m", "locoder", "run", "read a.txt", "-w", str(workspace), "-m", "ollama:m",
                          "--ollama-url", server.url.removesuffix("/v1"), "--sandbox", runner, "--workflow", "loop",
                          "--max-steps", "3", "--tool-mode", "native"], capture_output=True, text=True, timeout=90,
                         env=env)
    records = assert_clean_end(out, workspace)
    result = next(r for r in records if r["type"] == "result")
    if kind == "backend":
        assert result["status"] == "error" and out.returncode != 0, result
    else:
        assert next(r for r in records if r["type"] == "step")["format_error"] and result["status"] == "submitted"
