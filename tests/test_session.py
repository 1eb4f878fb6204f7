"""The composition root: a session built once from the settings, what it resolved, and its parts wired at
construction (a scripted model; the real backends' facts are tested in test_backends and test_openai_compat)."""

import json

import pytest

from locoder.agent.session import open_session
from locoder.config import load_settings
from locoder.exceptions import ConfigError


def _settings(tmp_path, repo, **extra):
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([{"tool": "final_answer", "arguments": {"answer": "ok"}}]))
    return load_settings({"workspace": str(repo), "model": f"scripted:{replies}", **extra}, env={})


def test_a_session_resolves_what_the_settings_leave_open_once(tmp_path, repo, isolated_env):
    session = open_session(_settings(tmp_path, repo, context_window=3000))
    try:
        resolved = session.resolved
        assert (resolved.backend, resolved.tool_mode, resolved.toolset, resolved.context_window) == \
            ("scripted", "constrained", "core", 3000)
        agent = session.agent
        assert agent.config.context_window == 3000 and agent.config.tool_mode == "constrained"
        assert session.router.python == session.python and session.router.state == session.state
        context = agent.toolbox.context
        assert context.knowledge is session.knowledge and context.planner is not None
        assert context.state == session.state and context.sandbox is session.sandbox
        # Nothing is patched onto the agent after construction: the session holds the knowledge and summary.
        assert not hasattr(agent, "knowledge") and not hasattr(agent, "summary")
        assert session.summary in agent.sinks and session.audit in agent.sinks
        result = session.router.run("say ok")
        assert result.status == "submitted" and session.summary.finish()["tasks"][0]["status"] == "submitted"
    finally:
        session.model.close()


def test_what_the_settings_fix_is_taken_as_given(tmp_path, repo, isolated_env):
    session = open_session(_settings(tmp_path, repo, tool_mode="text", toolset="all"))
    try:
        assert (session.resolved.tool_mode, session.resolved.toolset) == ("text", "all")
        assert "search_code" in session.agent.toolbox.tools
    finally:
        session.model.close()


def test_a_session_that_cannot_be_built_closes_its_model(tmp_path, repo, isolated_env, monkeypatch):
    from locoder.models.scripted import ScriptedModel

    closed = []
    monkeypatch.setattr(ScriptedModel, "close", lambda self: closed.append(self.name), raising=False)
    monkeypatch.setattr("locoder.agent.session.resolve_runner", lambda policy: "plain")
    with pytest.raises(ConfigError, match="read-only mode needs bubblewrap or Landlock"):
        open_session(_settings(tmp_path, repo, mode="read-only"))
    assert len(closed) == 1
