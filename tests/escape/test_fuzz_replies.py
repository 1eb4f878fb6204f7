"""A property test: seeded random malformed server events and tool arguments, thrown at the real
OpenAI-compatible client (over a real HTTP server) and at the agent loop driven by that client, with the real
tools, sandbox and audit log. None may escape as a traceback, and every run ends with a ``result`` record.

The seed is fixed so a failure can be replayed; LOCODER_FUZZ_SEED picks another, LOCODER_FUZZ_CASES more cases.
"""

import json
import os
import random
import time

import pytest

from escape.world import RUNNERS
from fakeserver import FakeServer
from locoder.agent.loop import Agent, AgentConfig
from locoder.audit import AuditLog, read_audit_log
from locoder.exceptions import BackendError
from locoder.locations import StatePaths
from locoder.messages import Message
from locoder.models.ollama import OllamaConfig, OllamaModel
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.tools import ToolBox, ToolContext, default_tools

SEED = int(os.environ.get("LOCODER_FUZZ_SEED", "1414"))
CASES = int(os.environ.get("LOCODER_FUZZ_CASES", "120"))
TOOLS = ["read_file", "write_file", "edit_file", "grep", "list_files", "run_command", "final_answer", "nope", ""]


def odd_value(rng: random.Random, depth: int = 0):
    """A JSON value of a random type, sometimes deep, long or holding a lone surrogate."""
    pick = rng.randrange(11)
    if pick == 0 and depth < 3:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if pick == 1 and depth < 3:
        return {rng.choice(["content", "delta", "x", "usage", "index", "function"]): odd_value(rng, depth + 1)}
    return rng.choice([None, True, 0, -1, 2**70, 1.5, "", "text", "\ud800", "[" * rng.randrange(1, 3000),
                       "é" * 50, {}, []])


def deep(n: int, leaf: str = "1") -> str:
    return "[" * n + leaf + "]" * n


def odd_arguments(rng: random.Random) -> str:
    """Tool-call argument text: broken, deep, not an object, wrong types, surrogates, or fine."""
    return rng.choice([
        "{", "[]", "null", "7", '"path"', deep(rng.choice([10, 999, 5000])), '{"path": "\\ud800"}',
        '{"path": "\\udcff\\ud800x"}', '{"path": 5}', '{"path": null}', '{"path": ["a"]}', '{"path": {"a": 1}}',
        '{"start_line": "x", "path": "a.txt"}', '{"path": "a.txt", "end_line": -5}', '{"path": "a.txt"}',
        '{"pattern": "(", "path": "."}', '{"pattern": "' + "a" * 5000 + '"}', '{"command": "echo hi"}',
        '{"command": 12}', '{"content": [1], "path": "b.txt"}', '{"path": "../../etc/passwd"}',
        '{"path": "a.txt", "search": "hello", "replace": "\\ud83d"}', '{"answer": "done"}', '{"answer": null}',
        json.dumps({"path": "a.txt", "x" * 50: odd_value(rng)}), '{"a":' * 3000 + "1" + "}" * 3000,
    ])


def odd_event(rng: random.Random) -> bytes:
    """One ``data:`` payload: malformed JSON, the wrong shape, or a good event with odd parts."""
    pick = rng.randrange(9)
    if pick == 0:
        return rng.choice([b"{", b"nul", b"[" * 60000, b'{"a":' * 6000, b"\xff\xfe", b"", b"[DONE"])
    if pick == 1:
        return json.dumps(odd_value(rng)).encode()
    if pick == 2:
        return json.dumps({"choices": odd_value(rng)}).encode()
    if pick == 3:
        return json.dumps({"choices": [{"delta": odd_value(rng)}]}).encode()
    if pick == 4:
        usage = rng.choice([odd_value(rng), {"prompt_tokens": odd_value(rng)}, {"completion_tokens": float("inf")},
                            {"prompt_tokens": float("nan")}, {"prompt_tokens_details": odd_value(rng)}])
        return json.dumps({"choices": [], "usage": usage, "timings": rng.choice([None, {"prompt_n": "x"}, 5])}).encode()
    if pick == 5:
        return json.dumps({"error": odd_value(rng)}).encode()
    call = {"index": rng.choice([0, 0, 1, "0", None, -1]), "id": rng.choice(["c1", None, 3]),
            "function": rng.choice([{"name": rng.choice(TOOLS), "arguments": odd_arguments(rng)},
                                    {"name": rng.choice(TOOLS), "arguments": odd_value(rng)}, odd_value(rng)])}
    delta = {"tool_calls": [call]} if pick < 8 else {"content": odd_value(rng)}
    return json.dumps({"choices": [{"delta": delta, "finish_reason": rng.choice([None, "stop", "length", 5])}]}).encode()


def odd_stream(rng: random.Random) -> bytes:
    lines = [b"data: " + odd_event(rng) for _ in range(rng.randrange(1, 4))]
    if rng.random() < 0.3:
        lines.insert(0, b": comment")
    if rng.random() < 0.85:
        lines.append(b"data: [DONE]")
    return b"\n\n".join(lines) + b"\n\n"


def odd_answer(rng: random.Random) -> tuple[int, str, bytes]:
    roll = rng.random()
    if roll < 0.12:  # a whole JSON document instead of a stream, or an HTTP error with an odd body
        message = {"content": odd_value(rng), "tool_calls": rng.choice([odd_value(rng), [{"function": {
            "name": rng.choice(TOOLS), "arguments": rng.choice([odd_arguments(rng), odd_value(rng)])}}]])}
        body = rng.choice([b"{", b"[]", b'{"choices": 5}', b'{"choices": [{"message": 3}]}', b"[" * 5000,
                           json.dumps({"choices": [{"message": message}], "usage": odd_value(rng)}).encode(),
                           b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": Infinity}}',
                           b'{"error": ' * 3000 + b"1" + b"}" * 3000])
        return rng.choice([500, 404, 429, 400, 200, 200, 200]), "application/json", body
    if roll < 0.15:
        return 200, "text/html", b"<html>hi</html>"
    return 200, "text/event-stream", odd_stream(rng)


def loop_answer(rng: random.Random) -> tuple[int, str, bytes]:
    """Mostly well-formed replies whose tool calls carry odd arguments (so the tools see them), else any."""
    if rng.random() < 0.25:
        return odd_answer(rng)
    name, arguments = rng.choice(TOOLS), odd_arguments(rng)
    if rng.random() < 0.5:
        delta = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": name, "arguments": arguments}}]}
    else:  # the same call written as text, for the text and constrained modes
        delta = {"content": '{"thought": "t", "tool": "' + name + '", "arguments": ' + arguments + "}"}
    event = json.dumps({"choices": [{"delta": delta, "finish_reason": "stop"}]}).encode()
    return 200, "text/event-stream", b"data: " + event + b"\n\ndata: [DONE]\n\n"


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.close()


def throw_answers(model, server, make_answer) -> None:
    """CASES random answers through ``model``: each gives a response or a BackendError, never another
    exception; some (not all) are errors; all within 15 s."""
    start, errors = time.monotonic(), 0
    for case in range(CASES):
        answer = make_answer()
        server.answers.append(answer)
        try:
            response = model.query([Message("user", "hi")])
        except BackendError:
            errors += 1
            continue
        except Exception as exc:  # noqa: BLE001 - this is the property under test
            pytest.fail(f"case {case} (seed {SEED}) escaped as {type(exc).__name__}: {exc}\n{answer[2][:300]!r}")
        # What comes back is clean text: it can be logged, shown and sent again.
        json.dumps([response.content, response.reasoning, [c.arguments for c in response.tool_calls]],
                   ensure_ascii=False).encode("utf-8")
    model.close()
    assert 0 < errors < CASES and time.monotonic() - start < 15


def test_random_replies_give_a_response_or_a_backend_error(server):
    rng = random.Random(SEED)
    model = OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0, timeout=5))
    throw_answers(model, server, lambda: odd_answer(rng))


@pytest.mark.parametrize("runner", RUNNERS)
def test_random_replies_never_stop_the_loop_without_a_result_record(server, tmp_path, runner):
    rng = random.Random(SEED + 1)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("hello\n")
    sandbox = Sandbox(workspace, SandboxPolicy(runner=runner, cpu_seconds=5, memory_mb=2048))
    box = ToolBox(default_tools(), ToolContext(workspace=workspace, command_timeout=5, command_output_chars=2000,
                                               sandbox=sandbox))
    model = OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0, timeout=5))
    start = time.monotonic()
    outcomes, observed = set(), 0
    for run in range(max(4, CASES // 4)):
        log_path = tmp_path / f"audit-{run}.jsonl"
        mode = rng.choice(["native", "text", "constrained"])
        agent = Agent(model, box, AgentConfig(max_steps=4, tool_mode=mode, format_retries=2), "system",
                      sinks=[AuditLog(log_path)])
        server.answers[:] = [loop_answer(rng) for _ in range(6)]
        try:
            result = agent.run(f"task {run}")
        except Exception as exc:  # noqa: BLE001 - this is the property under test
            pytest.fail(f"run {run} (seed {SEED}) escaped as {type(exc).__name__}: {exc}")
        records = read_audit_log(log_path)
        assert records and records[-1]["type"] == "result" and records[-1]["status"] == result.status, records[-1:]
        log_path.read_bytes().decode("utf-8")  # valid UTF-8 throughout
        outcomes.add(result.stop)
        observed += sum(len(r.get("observations") or []) for r in records if r["type"] == "step")
    model.close()
    # The cases reached the tools and the loop's own limits, not only the client's errors.
    assert "error" in outcomes and outcomes & {"answer", "max_steps", "repeated"} and observed > 10, outcomes
    assert time.monotonic() - start < 15


def odd_ollama_answer(rng: random.Random) -> tuple[int, str, bytes]:
    """Ollama's NDJSON: lines of odd shape, odd messages and tool calls, with or without the final line."""
    lines = []
    for _ in range(rng.randrange(1, 4)):
        pick = rng.randrange(8)
        if pick >= 5:  # well formed, the arguments odd (a string to decode, or an object)
            arguments = rng.choice([odd_arguments(rng), {"path": rng.choice(["a.txt", "\ud800", 5, None])}])
            lines.append(json.dumps({"message": {"content": "ok", "tool_calls": [
                {"function": {"name": rng.choice(TOOLS), "arguments": arguments}}]}}).encode())
        elif pick == 0:
            lines.append(rng.choice([b"{", b"[" * 6000, b'{"a":' * 6000, b"\xff", b"7", b"null"]))
        elif pick == 1:
            lines.append(json.dumps(odd_value(rng)).encode())
        elif pick == 2:
            lines.append(json.dumps({"message": odd_value(rng)}).encode())
        else:
            call = rng.choice([odd_value(rng), {"function": rng.choice([odd_value(rng), {
                "name": rng.choice(TOOLS), "arguments": rng.choice([odd_arguments(rng), odd_value(rng)])}])}])
            lines.append(json.dumps({"message": {"content": odd_value(rng), "tool_calls": [call]}}).encode())
    if rng.random() < 0.8:
        lines.append(json.dumps({"done": True, "done_reason": rng.choice(["stop", None, "length", 3]),
                                 "prompt_eval_count": rng.choice([1, 1, None, "x", float("inf")]),
                                 "eval_count": rng.choice([1, 2, odd_value(rng)])}).encode())
    return rng.choice([200, 200, 200, 500, 404]), "application/x-ndjson", b"\n".join(lines) + b"\n"


def test_random_ollama_replies_give_a_response_or_a_backend_error(server):
    rng = random.Random(SEED + 4)
    model = OllamaModel(OllamaConfig(model="m", base_url=server.url, retries=0, first_token_timeout=5,
                                     request_timeout=5))
    throw_answers(model, server, lambda: odd_ollama_answer(rng))


class Exploding:
    """A model whose backend fails in ways no one planned for (a bug, not a BackendError)."""

    name = "exploding"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def query(self, messages, **_):
        raise self.rng.choice([RuntimeError("boom"), ValueError("bad"), KeyError("k"), UnicodeEncodeError(
            "utf-8", "\ud800", 0, 1, "surrogates not allowed"), RecursionError("deep"), AttributeError("x")])


def test_an_unexpected_exception_in_a_step_becomes_an_error_and_a_result_record(tmp_path):
    rng = random.Random(SEED + 2)
    box = ToolBox(default_tools(), ToolContext(workspace=tmp_path, command_timeout=5, command_output_chars=2000))
    for run in range(6):
        log_path = tmp_path / f"audit-{run}.jsonl"
        agent = Agent(Exploding(rng), box, AgentConfig(max_steps=3), "system", sinks=[AuditLog(log_path)])
        result = agent.run("x")
        types = [r["type"] for r in read_audit_log(log_path)]
        assert result.status == "error" and "internal error" in result.answer
        assert types[-2:] == ["error", "result"], types


def test_an_unexpected_exception_in_a_workflow_becomes_an_error_and_a_result_record(tmp_path):
    """The router's net: the question workflow calls the model outside the loop, and what it raises
    (not a LocoderError) still ends the task with records, not a traceback."""
    from locoder.agent.router import TaskRouter

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text("def scale(x):\n    return x * 3\n")
    rng = random.Random(SEED + 3)
    box = ToolBox(default_tools(), ToolContext(workspace=workspace, command_timeout=5, command_output_chars=2000))
    for run in range(3):
        log_path = tmp_path / f"audit-{run}.jsonl"
        agent = Agent(Exploding(rng), box, AgentConfig(max_steps=3), "system", sinks=[AuditLog(log_path)])
        router = TaskRouter(agent, workspace, StatePaths.at(workspace / ".locoder", workspace), "python3", workflow="ask")
        result = router.run("what does scale in calc.py do?")
        records = read_audit_log(log_path)
        assert result.status == "error" and "internal error" in result.answer, result
        assert [r["type"] for r in records][-2:] == ["error", "result"], records
        assert any(r.get("workflow") == "ask" for r in records)  # it failed inside the workflow, not the loop
