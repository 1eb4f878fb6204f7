"""Policy and approvals around the tools: modes, rules, secret files, the approver."""

import json

import pytest

from conftest import action
from locoder.agent.factory import build_agent
from locoder.config import load_settings
from locoder.exceptions import ConfigError
from locoder.messages import ToolCall
from locoder.sandbox import landlock
from locoder.sandbox.runners import bubblewrap_works
from locoder.tools import ToolBox, ToolContext, default_tools
from locoder.tools.guard import GuardedToolBox, Rule, ToolPolicy, is_secret_file

bwrap = pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap cannot run here")


def guarded(repo, **policy) -> GuardedToolBox:
    approver = policy.pop("approver", None)
    return GuardedToolBox(ToolBox(default_tools(), ToolContext(workspace=repo)), ToolPolicy(**policy), approver)


@pytest.mark.parametrize("path", [".env", "config/.env.production", "server.pem", "certs/tls.key", "id_rsa",
                                  "keys/id_ed25519.pub", ".ssh/config", "home/.aws/credentials", ".netrc", ".pypirc"])
def test_secret_files_are_refused_to_file_tools(repo, path):
    assert is_secret_file(path)
    for tool, args in [("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"}),
                       ("edit_file", {"path": path, "search": "a", "replace": "b"})]:
        result = guarded(repo).execute(ToolCall(tool, args))
        assert not result.ok and "secret file" in result.output


@pytest.mark.parametrize("path", ["environment.py", "keys.py", "docs/env.md", "id_mapping.py", "monkey.txt"])
def test_ordinary_files_are_not_secret(path):
    assert not is_secret_file(path)


def test_deny_rules_by_glob_and_regex(repo):
    box = guarded(repo, deny=(Rule.parse("run_command:git push*"), Rule.parse("write_file:re:\\.lock$")))
    push = box.execute(ToolCall("run_command", {"command": "git push origin main"}))
    assert not push.ok and "policy denies run_command" in push.output
    lock = box.execute(ToolCall("write_file", {"path": "poetry.lock", "content": "x"}))
    assert not lock.ok and not (repo / "poetry.lock").exists()
    assert box.execute(ToolCall("run_command", {"command": "git status"})).ok


def test_never_refuses_changes_but_not_reads(repo):
    box = guarded(repo, approval="never")
    assert box.execute(ToolCall("read_file", {"path": "calc.py"})).ok
    refused = box.execute(ToolCall("write_file", {"path": "x.py", "content": "x"}))
    assert not refused.ok and "approval is set to never" in refused.output and not (repo / "x.py").exists()


def test_allow_rules_skip_the_question(repo):
    asked = []
    box = guarded(repo, approval="ask", allow=(Rule.parse("run_command:pytest*"),),
                  approver=lambda call, preview: asked.append(preview) or "no")
    assert box.execute(ToolCall("run_command", {"command": "pytest --version || true"})).ok
    assert not box.execute(ToolCall("run_command", {"command": "ls"})).ok
    assert asked == ["$ ls"]


def test_the_approver_sees_the_diff_before_anything_changes(repo):
    seen = []
    box = guarded(repo, approval="ask", approver=lambda call, preview: seen.append(preview) or "yes")
    assert box.execute(ToolCall("edit_file", {"path": "calc.py", "search": "x * 3", "replace": "x * 5"})).ok
    assert "-    return x * 3" in seen[0] and "+    return x * 5" in seen[0]


def test_read_only_mode_refuses_file_changes(repo):
    box = guarded(repo, mode="read-only")
    result = box.execute(ToolCall("write_file", {"path": "new.py", "content": "x"}))
    assert not result.ok and "read-only" in result.output and not (repo / "new.py").exists()


@pytest.mark.parametrize("runner,refusal", [
    pytest.param("bubblewrap", "Read-only file system", marks=bwrap),
    pytest.param("landlock", "Permission denied",
                 marks=pytest.mark.skipif(landlock.abi() < 1, reason="the kernel has no Landlock")),
])
def test_read_only_mode_keeps_commands_from_writing(tmp_path, repo, isolated_env, runner, refusal):
    replies = tmp_path / "r.json"
    replies.write_text(json.dumps([action("run_command", command="echo x > new.txt; rm calc.py"),
                                   action("final_answer", answer="ok")]))
    settings = load_settings({"workspace": str(repo), "model": f"scripted:{replies}", "mode": "read-only",
                              "sandbox": runner}, env={})
    agent = build_agent(settings)
    agent.run("try to write")
    assert refusal in agent.messages[-2].content
    assert (repo / "calc.py").exists() and not (repo / "new.txt").exists()


def test_full_access_runs_commands_unconfined(tmp_path, repo, isolated_env):
    settings = load_settings({"workspace": str(repo), "model": "scripted:/dev/null", "mode": "full-access"}, env={})
    from locoder.agent.factory import build_sandbox

    described = build_sandbox(settings).describe()
    assert described["runner"] == "plain" and "NOT confined" in described["filesystem"]


def test_rules_from_the_project_file_and_bad_rules(tmp_path, repo, isolated_env):
    (repo / ".locoder.toml").write_text('deny = ["run_command:git push*", "write_file:*.lock"]\napproval = "never"\n')
    replies = tmp_path / "r.json"
    replies.write_text(json.dumps([action("final_answer", answer="ok")]))
    settings = load_settings({"workspace": str(repo), "model": f"scripted:{replies}"}, env={})
    agent = build_agent(settings)
    assert [f"{r.tool}:{r.pattern}" for r in agent.toolbox.policy.deny] == ["run_command:git push*", "write_file:*.lock"]
    assert agent.toolbox.policy.approval == "never"
    (repo / ".locoder.toml").write_text('deny = ["no-colon-here"]\n')
    with pytest.raises(ConfigError, match="TOOL:PATTERN"):
        build_agent(load_settings({"workspace": str(repo), "model": f"scripted:{replies}"}, env={}))
