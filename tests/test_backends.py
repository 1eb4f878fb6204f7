"""Choosing and configuring backends: the capability probe, thinking, system-prompt options."""

import json

import pytest

from conftest import action
from fakeserver import FakeServer
from locoder.agent.factory import build_agent
from locoder.audit import read_audit_log
from locoder.config import load_settings
from locoder.messages import Message
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from locoder.models.probe import probe_openai
from locoder.models.wrappers import fold_system


def stream(content="", tool_calls=None) -> tuple[int, str, bytes]:
    delta = {"content": content} if content else {"tool_calls": tool_calls}
    events = [{"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return 200, "text/event-stream", body


PING_CALL = [{"index": 0, "id": "1", "function": {"name": "ping", "arguments": '{"word": "hello"}'}}]


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def client(server) -> OpenAICompatModel:
    return OpenAICompatModel(OpenAICompatConfig(base_url=server.url, model="m", retries=0))


@pytest.mark.parametrize(
    "answers,mode",
    [
        ([stream(tool_calls=PING_CALL)], "native"),
        ([stream("I would call ping."), stream('{"tool": "ping", "arguments": {"word": "hello"}}')], "constrained"),
        ([(400, "application/json", b'{"error": "tools not supported"}'),
          stream('{"tool": "ping", "arguments": {"word": "hello"}}')], "constrained"),
        ([stream("ping hello"), stream("sure, ping")], "text"),
    ],
)
def test_probe_finds_what_works_and_caches_it(server, tmp_path, answers, mode):
    server.answers = list(answers)
    cache = tmp_path / "caps.json"
    assert probe_openai(client(server), cache) == mode
    assert probe_openai(client(server), cache) == mode  # from the cache: no further request
    assert len(server.requests) == len(answers)
    assert json.loads(cache.read_text()) == {f"{server.url}|m": {"tool_mode": mode}}
    assert "tools" in server.requests[0]["body"]


def test_fold_system_into_the_first_user_turn():
    folded = fold_system([Message("system", "RULES"), Message("user", "task"), Message("assistant", "a"),
                          Message("user", "more")])
    assert [m.role for m in folded] == ["user", "assistant", "user"]
    assert folded[0].content.startswith("RULES") and folded[0].content.endswith("task")
    assert folded[2].content == "more"


def _scripted(tmp_path, replies):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    return f"scripted:{path}"


def test_system_prompt_from_file_keeps_tools_and_format(tmp_path, repo, isolated_env):
    rules = tmp_path / "rules.md"
    rules.write_text("You are terse. Always run the tests.")
    settings = load_settings({"workspace": str(repo), "model": _scripted(tmp_path, [action("final_answer", answer="ok")]),
                              "system_prompt": f"@{rules}"}, env={})
    agent = build_agent(settings)
    system = agent.messages[0].content
    assert system.startswith("You are terse.") and "read_file(path" in system and '"tool"' in system
    assert "Look before you act" not in system  # locoder's own guidance was replaced


def test_missing_system_prompt_file_is_a_config_error(tmp_path, repo, isolated_env):
    from locoder.exceptions import ConfigError

    settings = load_settings({"workspace": str(repo), "model": _scripted(tmp_path, []),
                              "system_prompt": "@/nonexistent/prompt.md"}, env={})
    with pytest.raises(ConfigError, match="cannot read the system prompt file"):
        build_agent(settings)


def test_disable_system_prompt_sends_no_system_message(tmp_path, repo, isolated_env):
    settings = load_settings({"workspace": str(repo), "model": _scripted(tmp_path, [action("final_answer", answer="ok")]),
                              "disable_system_prompt": True}, env={})
    agent = build_agent(settings)
    agent.run("do it")
    sent = agent.model.inner.requests[0]["messages"]
    assert [m.role for m in sent] == ["user"] and "do it" in sent[0].content and "read_file" in sent[0].content


def test_thinking_switch_and_profile_reach_the_server(server, repo, isolated_env, tmp_path):
    server.answers = [stream(action("final_answer", answer="ok"))]
    settings = load_settings({"workspace": str(repo), "model": server.url, "model_name": "Qwen/Qwen3-1.7B",
                              "thinking": "off", "tool_mode": "constrained"}, env={})
    agent = build_agent(settings)
    assert agent.run("x").ok
    body = server.requests[0]["body"]
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["model"] == "Qwen/Qwen3-1.7B"
    session = read_audit_log(settings.audit_log_path)[0]
    assert session["profile"] == "qwen3" and session["backend"] == "openai"
    assert agent.config.context_window == 16384  # the family's default, capped


def test_gemma_profile_folds_the_system_prompt(server, repo, isolated_env):
    server.answers = [stream("```tool_code\nfinal_answer(answer=\"done\")\n```")]
    settings = load_settings({"workspace": str(repo), "model": server.url, "model_name": "gemma-3-1b-it",
                              "tool_mode": "text"}, env={})
    agent = build_agent(settings)
    assert agent.run("x").answer == "done"  # gemma's tool_code syntax parsed
    assert [m["role"] for m in server.requests[0]["body"]["messages"]] == ["user"]


def test_transformers_backend_without_the_extra_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    from locoder.exceptions import BackendError
    from locoder.models.transformers_backend import TransformersConfig, TransformersModel

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name in ("torch", "transformers"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(BackendError, match=r"locoder\[transformers\]"):
        TransformersModel(TransformersConfig(model=str(tmp_path)))


def test_server_that_ignores_the_schema_still_works_through_the_text_parser(server, repo, isolated_env):
    prose = 'Sure! I will finish now.\n```json\n{"name": "final_answer", "arguments": {"answer": "ok"}}\n```'
    server.answers = [stream("I refuse to use JSON today."), stream(prose)]
    settings = load_settings({"workspace": str(repo), "model": server.url, "model_name": "m",
                              "tool_mode": "constrained"}, env={})
    agent = build_agent(settings)
    result = agent.run("x")
    assert result.ok and result.answer == "ok"
    assert "response_format" in server.requests[0]["body"]
    # The unusable first reply was answered with a format hint, not a crash.
    assert "could not be used" in server.requests[1]["body"]["messages"][-1]["content"]


@pytest.mark.parametrize("toolset,model_kind,expected_extra", [("auto", "scripted", False), ("all", "scripted", True),
                                                                 ("auto", "openai", True), ("core", "openai", False)])
def test_toolset(tmp_path, repo, isolated_env, server, toolset, model_kind, expected_extra):
    model = _scripted(tmp_path, []) if model_kind == "scripted" else server.url
    settings = load_settings({"workspace": str(repo), "model": model, "model_name": "m", "toolset": toolset,
                              "tool_mode": "text"}, env={})
    names = build_agent(settings).toolbox.names()
    assert "read_file" in names and names[-1] == "final_answer"
    assert ("run_python" in names) == expected_extra and ("download_file" in names) == expected_extra
