"""The Ollama native client against recorded exchanges (fixtures/ollama), served by a real local HTTP server."""

import json
from pathlib import Path

import pytest

from conftest import action
from fakeserver import FakeServer
from locoder.agent.loop import Agent, AgentConfig
from locoder.exceptions import BackendError
from locoder.messages import Message, ToolCall
from locoder.models.ollama import OllamaConfig, OllamaModel
from locoder.models.probe import auto_tool_mode
from locoder.tools import ToolBox, ToolContext, default_tools

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"
NDJSON = "application/x-ndjson"


def recorded(name: str, status: int = 200) -> tuple[int, str, bytes]:
    kind = NDJSON if name.endswith(".ndjson") else "application/json"
    return status, kind, (FIXTURES / name).read_bytes()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def model(server, **kw) -> OllamaModel:
    return OllamaModel(OllamaConfig(model=kw.pop("name", "qwen3:1.7b"), base_url=server.url.removesuffix("/v1"),
                                    retries=kw.pop("retries", 1), **kw))


def test_streamed_text_and_request_body(server):
    server.answers = [recorded("chat_text.ndjson")]
    reply = model(server, context_window=12288, max_tokens=300, thinking=False).query(
        [Message("system", "sys"), Message("user", "hi")], schema={"type": "object"})
    assert json.loads(reply.content)["tool"] == "read_file"
    assert reply.finish_reason == "stop" and reply.usage.prompt_tokens == 412 and reply.usage.completion_tokens == 23
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/api/chat"
    assert body["options"]["num_ctx"] == 12288 and body["options"]["num_predict"] == 300
    assert body["format"] == {"type": "object"} and body["think"] is False and body["stream"] is True
    assert body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]


def test_native_tool_calls(server):
    server.answers = [recorded("chat_tool_call.ndjson")]
    reply = model(server).query([Message("user", "find scale")], tools=[{"type": "function"}])
    assert reply.tool_calls == [ToolCall("grep", {"pattern": "def scale", "path": "."})]
    assert server.requests[0]["body"]["tools"] == [{"type": "function"}]


def test_thinking_is_kept_apart_from_the_content(server):
    server.answers = [recorded("chat_thinking.ndjson")]
    reply = model(server).query([Message("user", "x")])
    assert reply.reasoning == "The user wants the file. I will call final_answer."
    assert "thinking" not in reply.content and json.loads(reply.content)["tool"] == "final_answer"


def test_length_stop_is_reported(server):
    server.answers = [recorded("chat_length.ndjson")]
    assert model(server).query([Message("user", "x")]).finish_reason == "length"


def test_stream_cut_before_done_is_retried_then_reported(server):
    server.answers = [recorded("chat_cut.ndjson")] * 2
    with pytest.raises(BackendError, match="closed the stream before it finished"):
        model(server).query([Message("user", "x")])
    assert len(server.requests) == 2


def test_missing_model_says_how_to_pull_it(server):
    server.answers = [recorded("error_not_found.json", status=404)]
    with pytest.raises(BackendError, match="ollama pull qwen9:1b"):
        model(server, name="qwen9:1b").query([Message("user", "x")])


def test_tags_show_and_tool_mode_from_capabilities(server):
    server.answers = [recorded("tags.json"), recorded("show_qwen3.json"), recorded("show_gemma.json")]
    assert model(server).list_models() == ["qwen3:1.7b", "gemma3:1b"]
    assert auto_tool_mode("ollama", model(server)) == "native"
    assert auto_tool_mode("ollama", model(server, name="gemma3:1b")) == "constrained"
    assert server.requests[1]["body"] == {"model": "qwen3:1.7b"}


def test_first_token_wait_is_capped(server):
    import threading

    release = threading.Event()
    server.delay = release
    server.answers = [recorded("chat_text.ndjson")]
    try:
        with pytest.raises(BackendError, match="sent nothing for 0.5s"):
            model(server, first_token_timeout=0.5).query([Message("user", "x")])
    finally:
        release.set()


def test_an_agent_task_over_the_recorded_stream(server, repo):
    server.answers = [recorded("chat_tool_call.ndjson"),
                      (200, NDJSON, (json.dumps({"message": {"role": "assistant", "content": action(
                          "final_answer", answer="scale returns x * 3")}, "done": False}) + "\n"
                                     + json.dumps({"done": True, "done_reason": "stop"}) + "\n").encode())]
    agent = Agent(model(server), ToolBox(default_tools(), ToolContext(workspace=repo)), AgentConfig(tool_mode="native"), "s")
    result = agent.run("what does scale return?")
    assert result.ok and result.answer == "scale returns x * 3"
    # The grep result went back to the model as an observation.
    assert "calc.py:6:def scale(x):" in server.requests[1]["body"]["messages"][-1]["content"]
