"""Context condensation: long sessions in a small window keep the task and the latest result, are never sent
more than the window leaves, and say in the audit log when and how much was condensed."""

import json

import pytest

from conftest import action
from fakeserver import FakeServer
from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.window import TokenCounter, margin
from locoder.audit import AuditLog, read_audit_log
from locoder.exceptions import BackendError
from locoder.messages import Message
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, default_tools

WINDOW, MAX_TOKENS = 2048, 256
TASK = "Print the numbered lines one step at a time and report the last number"
SYSTEM = "You are a coding agent. " * 60  # about 400 tokens, as a real system prompt takes a share of the window


def make_agent(repo, tmp_path, replies, model=None, **config):
    model = model or ScriptedModel(replies)
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=20))
    settings = {"context_window": WINDOW, "max_tokens": MAX_TOKENS, **config}
    agent = Agent(model, box, AgentConfig(**settings), SYSTEM, sinks=[AuditLog(tmp_path / "audit.jsonl")])
    return agent, model


def printing(i: int, chars: int = 1500) -> str:
    return action("run_command", thought=f"print block {i}",
                  command=f"python3 -c \"print('STEP-{i} ' + 'x' * {chars})\"")


def budget(config_window=WINDOW, max_tokens=MAX_TOKENS):
    return config_window - max_tokens - margin(config_window)


def test_a_long_session_keeps_the_task_and_the_last_result_and_never_passes_the_window(repo, tmp_path):
    steps = 34
    replies = [printing(i, 700) for i in range(steps)] + [action("final_answer", answer=f"STEP-{steps - 1}")]
    agent, model = make_agent(repo, tmp_path, replies, max_steps=40)
    result = agent.run(TASK)
    assert result.ok and result.steps == steps + 1
    counter = TokenCounter()  # the scripted model has no tokenizer: the loop's counter estimates, as this one
    for n, request in enumerate(model.requests):
        messages = request["messages"]
        assert messages[0].content == SYSTEM
        assert any(m.role == "user" and m.content.startswith(TASK) for m in messages), n
        assert counter.messages(messages) <= WINDOW - MAX_TOKENS, n
        if n:  # the result of the call before is the last thing the model reads, whole
            assert f"STEP-{n - 1} " + "x" * 700 in messages[-1].content, n
    # Without condensation the conversation would have grown far past the window.
    assert counter.messages(agent.messages) < WINDOW and steps * 700 / 3.2 > 3 * WINDOW
    records = [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["type"] == "step"]
    condensed = [r["condensed"] for r in records if "condensed" in r]
    # Condensed several times, but not every turn: each one leaves room for the turns after it.
    assert 3 <= len(condensed) <= steps // 2
    for c in condensed:
        assert c["tokens_before"] > c["budget"] >= c["tokens_after"] and c["messages"] > 0
        assert c["budget"] == budget() and c["counter"] == "estimate"
    assert all(r["compacted"] == 0 for r in records if "condensed" not in r)


def test_the_condensed_message_says_what_was_read_changed_run_and_what_failed(repo, tmp_path):
    replies = [
        action("read_file", thought="look at calc", path="calc.py"),
        action("edit_file", thought="triple", path="calc.py", search="    return x * 3", replace="    return x * 4"),
        action("run_command", thought="check it",
               command="python3 -c \"import calc; assert calc.scale(1) == 3, 'scale is broken: boom'\""),
        action("grep", thought="find uses", pattern="scale"),
        *[printing(i) for i in range(8)],
        action("final_answer", answer="done"),
    ]
    agent, model = make_agent(repo, tmp_path, replies)
    assert agent.run(TASK).ok
    condensed = [m for r in model.requests for m in r["messages"]
                 if m.content.startswith("[Earlier turns, condensed")]
    assert condensed
    text = condensed[-1].content
    assert "This task, steps 1-" in text and "Looked at: calc.py" in text
    assert "Files changed: calc.py (1 change, +1 -1 lines)" in text
    assert "exit 1" in text and "scale is broken: boom" in text  # the last failure, collapsed
    assert "Other calls: grep x1" in text
    assert "Your last stated plan: print block" in text
    assert "exit 0" in text  # the printing commands that were condensed, with how they ended


def test_a_second_condensation_still_covers_the_first_turns(repo, tmp_path):
    replies = [action("read_file", thought="first look", path="calc.py"),
               *[printing(i) for i in range(20)], action("final_answer", answer="done")]
    agent, model = make_agent(repo, tmp_path, replies)
    assert agent.run(TASK).ok
    condensations = [r["condensed"] for r in read_audit_log(tmp_path / "audit.jsonl") if "condensed" in r]
    assert len(condensations) >= 2
    last = [m.content for m in model.requests[-1]["messages"] if m.content.startswith("[Earlier turns")]
    assert len(last) == 1 and "This task, steps 1-" in last[0] and "Looked at: calc.py" in last[0]


def test_earlier_tasks_are_condensed_and_the_current_task_stays(repo, tmp_path):
    first = [printing(i) for i in range(3)] + [action("final_answer", answer="the first is done")]
    second = [printing(i) for i in range(100, 106)] + [action("final_answer", answer="done")]
    agent, model = make_agent(repo, tmp_path, first + second)
    assert agent.run("the first task: print three blocks").ok
    assert agent.run(TASK).ok
    later = model.requests[-1]["messages"]
    assert later[1].content.startswith(TASK)
    text = next(m.content for m in later if m.content.startswith("[Earlier turns"))
    assert "Earlier task: the first task: print three blocks" in text and "answered: the first is done" in text
    assert "the first task" not in " ".join(m.content for m in later if m is not later[1] and m.content != text)


def test_an_observation_larger_than_the_window_is_cut_to_fit_and_still_ends_the_request(repo, tmp_path):
    huge = action("run_command", thought="huge", command="python3 -c \"print('HEAD ' + 'y' * 9000 + ' TAIL')\"")
    agent, model = make_agent(repo, tmp_path, [huge, action("final_answer", answer="done")],
                              observation_summary_chars=20000)
    assert agent.run(TASK).ok
    last = model.requests[-1]["messages"]
    assert TokenCounter().messages(last) <= budget()
    assert "HEAD" in last[-1].content and "TAIL" in last[-1].content and "shortened to fit" in last[-1].content
    assert last[1].content.startswith(TASK)


def test_instructions_that_fill_the_window_end_the_task_with_a_clear_reason(repo, tmp_path):
    model = ScriptedModel([action("final_answer", answer="never")])
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=20))
    agent = Agent(model, box, AgentConfig(context_window=1024, max_tokens=256), "rules " * 2000)
    result = agent.run(TASK)
    assert result.stop == "context" and "--context-window" in result.answer and not model.requests


def test_condensation_off_sends_the_whole_conversation(repo, tmp_path):
    replies = [printing(i) for i in range(8)] + [action("final_answer", answer="done")]
    agent, model = make_agent(repo, tmp_path, replies, condense=False)
    assert agent.run(TASK).ok
    assert TokenCounter().messages(model.requests[-1]["messages"]) > WINDOW
    assert not [r for r in read_audit_log(tmp_path / "audit.jsonl") if "condensed" in r]


class Tokenizer:
    """A model's count_tokens: words, counted; fails when told to."""

    def __init__(self):
        self.calls, self.fail = 0, False

    def count_tokens(self, text):
        self.calls += 1
        if self.fail:
            raise BackendError("the tokenizer is gone")
        return len(text.split())


def test_the_counter_uses_the_models_tokenizer_once_per_text_and_falls_back_to_an_estimate():
    model = Tokenizer()
    counter = TokenCounter(model)
    assert counter.source == "tokenizer" and counter.text("one two three") == 3 and model.calls == 1
    messages = [Message("user", "one two three"), Message("tool", "four five")]
    assert counter.messages(messages) == 3 + 2 + 2 * 5 + 3 and model.calls == 2  # "one two three" counted once
    model.fail = True
    assert counter.text("x" * 32) == 11 and counter.source == "estimate"
    assert counter.text("y" * 32) == 11 and model.calls == 3  # not asked again
    assert TokenCounter(ScriptedModel([])).source == "estimate"


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def client(server, **kw):
    return OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0, timeout=5, **kw))


def test_count_tokens_asks_the_servers_tokenize(server):
    server.tokenize = lambda text: len(text.split())
    model = client(server)
    assert model.count_tokens("def add(a, b):") == 3
    assert server.tokenized == ["def add(a, b):"]  # at the root, /tokenize, as llama.cpp serves it (not /v1)


def test_count_tokens_reads_the_tokens_and_rejects_another_shape(server):
    server.model_list = None
    server.answers = [(200, "application/json", json.dumps({"tokens": [11, 22, 33, 44]}).encode()),
                      (200, "application/json", b'{"tokens": 4}')]
    proxy = OpenAICompatModel(OpenAICompatConfig(base_url=server.url.removesuffix("/v1") + "/proxy/v1", model="m", timeout=5))
    assert proxy.count_tokens("def add(a, b):") == 4
    assert server.requests[0]["path"] == "/proxy/tokenize"
    assert server.requests[0]["body"] == {"content": "def add(a, b):", "add_special": False}
    with pytest.raises(BackendError, match="tokens"):
        proxy.count_tokens("x")


def test_a_server_without_tokenize_is_asked_once(server):
    model = client(server)
    with pytest.raises(BackendError):
        model.count_tokens("x")
    with pytest.raises(BackendError):
        model.count_tokens("y")
    assert server.tokenize_asked == 1 and not server.requests
    assert TokenCounter(model).text("z" * 64) == 21  # the estimate


def sse_reply(content):
    events = [{"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return (200, "text/event-stream", body)


def test_a_session_against_a_server_is_condensed_by_its_tokenizer(repo, tmp_path, server):
    """The window counts with the server's /tokenize, and what reaches /chat/completions fits it by that count."""
    def tokenize(text):
        return len(text) // 3 + text.count("\n")

    server.tokenize = tokenize
    replies = [printing(i, 900) for i in range(14)] + [action("final_answer", answer="done")]
    server.answers = [sse_reply(r) for r in replies]
    agent, _ = make_agent(repo, tmp_path, [], model=client(server), tool_mode="text", context_window=1536,
                          max_tokens=200)
    assert agent.run(TASK).ok
    chats = [r["body"]["messages"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len(chats) == 15 and server.tokenized
    for messages in chats:
        assert sum(tokenize(m["content"]) + 5 for m in messages) + 3 <= budget(1536, 200)
        assert any(m["content"].startswith(TASK) for m in messages)
    condensed = [r["condensed"] for r in read_audit_log(tmp_path / "audit.jsonl") if "condensed" in r]
    assert condensed and all(c["counter"] == "tokenizer" for c in condensed)
    # Each text is tokenized once, however many requests it is part of.
    assert len(server.tokenized) == len(set(server.tokenized))
