"""The OpenAI-compatible client against a real local HTTP server that misbehaves on purpose."""

import json
import socket

import pytest

from fakeserver import FakeServer
from locoder.exceptions import BackendError
from locoder.messages import Message
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel

MESSAGES = [Message("user", "hi")]


def sse(*events) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def chunk(content=None, finish=None, tool_calls=None):
    delta = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 7}},
         "timings": {"prompt_n": 3, "cache_n": 7}}


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def client(url, **kw) -> OpenAICompatModel:
    return OpenAICompatModel(OpenAICompatConfig(base_url=url, model=kw.pop("model", "m"), retries=kw.pop("retries", 2),
                                                timeout=5, **kw))


def ok_stream(text="hello"):
    return (200, "text/event-stream", sse(chunk(text[:2]), chunk(text[2:]), chunk(finish="stop"), USAGE) + b"data: [DONE]\n\n")


def test_streamed_content_usage_and_request_shape(server):
    server.answers = [ok_stream()]
    response = client(server.url, api_key="sk-abc").query(MESSAGES, schema={"type": "object"})
    assert response.content == "hello" and response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.cached_tokens, response.usage.prompt_processed) == (10, 7, 3)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-abc"
    assert req["body"]["stream"] is True and req["body"]["response_format"]["json_schema"]["schema"] == {"type": "object"}


def test_streamed_native_tool_calls_are_assembled(server):
    parts = [chunk(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "read_", "arguments": '{"pa'}}]),
             chunk(tool_calls=[{"index": 0, "function": {"name": "file", "arguments": 'th": "a.py"}'}}]),
             chunk(finish="tool_calls")]
    server.answers = [(200, "text/event-stream", sse(*parts) + b"data: [DONE]\n\n")]
    response = client(server.url).query(MESSAGES, tools=[{"type": "function"}])
    assert [(c.name, c.arguments, c.id) for c in response.tool_calls] == [("read_file", {"path": "a.py"}, "c1")]
    assert server.requests[0]["body"]["tools"] == [{"type": "function"}]


def test_server_that_ignores_stream_and_answers_json(server):
    body = {"choices": [{"message": {"content": "plain"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 4}}
    server.answers = [(200, "application/json", json.dumps(body).encode())]
    response = client(server.url).query(MESSAGES)
    assert response.content == "plain" and response.usage.prompt_tokens == 4


def test_5xx_is_retried_then_succeeds(server):
    server.answers = [(500, "application/json", b'{"error": {"message": "busy"}}'), (503, "text/plain", b"x"), ok_stream()]
    assert client(server.url).query(MESSAGES).content == "hello"
    assert len(server.requests) == 3


def test_persistent_5xx_fails_after_the_retries(server):
    server.answers = [(500, "application/json", b'{"error": {"message": "kaput"}}')] * 3
    with pytest.raises(BackendError, match="HTTP 500: kaput"):
        client(server.url).query(MESSAGES)
    assert len(server.requests) == 3


def test_429_is_retried(server):
    server.answers = [(429, "application/json", b'{"error": "slow down"}'), ok_stream()]
    assert client(server.url).query(MESSAGES).content == "hello"


def test_html_answer_says_what_is_wrong(server):
    server.answers = [(200, "text/html", b"<html><body>Welcome to nginx</body></html>")]
    with pytest.raises(BackendError, match="answered with HTML.*/v1"):
        client(server.url).query(MESSAGES)


def test_stream_dropped_halfway_is_retried_then_reported(server):
    half = (200, "text/event-stream", sse(chunk("hel")))
    server.answers = [half, half, half]
    with pytest.raises(BackendError, match="closed the stream before it finished"):
        client(server.url).query(MESSAGES)
    assert len(server.requests) == 3


def test_truncated_json_in_the_stream(server):
    server.answers = [(200, "text/event-stream", b'data: {"choices": [{"delta": {"cont\n\n')] * 3
    with pytest.raises(BackendError, match="malformed stream event"):
        client(server.url).query(MESSAGES)


def test_context_length_error_is_explained_and_not_retried(server):
    msg = {"error": {"message": "the request exceeds the available context size (4096 tokens)"}}
    server.answers = [(400, "application/json", json.dumps(msg).encode())]
    with pytest.raises(BackendError, match="longer than the model's context.*--context-window"):
        client(server.url).query(MESSAGES)
    assert len(server.requests) == 1


def test_auth_and_not_found_errors(server):
    server.answers = [(401, "application/json", b'{"error": "bad key"}')]
    with pytest.raises(BackendError, match="OPENAI_API_KEY") as info:
        client(server.url, api_key="sk-secret-value").query(MESSAGES)
    assert "sk-secret-value" not in str(info.value)
    server.answers = [(404, "text/plain", b"no such route")]
    with pytest.raises(BackendError, match="should end in /v1"):
        client(server.url).query(MESSAGES)


def test_model_name_comes_from_the_server_when_unset(server):
    server.model_list = None
    server.answers = [(200, "application/json", b'{"data": [{"id": "served-model"}]}'), ok_stream()]
    c = client(server.url, model="")
    c.query(MESSAGES)
    assert c.name == "served-model" and server.requests[1]["body"]["model"] == "served-model"


def test_nothing_listening_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match="cannot reach the model server.*is it running"):
        client(f"http://127.0.0.1:{port}/v1", retries=1).query(MESSAGES)
