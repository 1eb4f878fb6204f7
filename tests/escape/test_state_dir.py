"""The state folder's name is a setting (``state_dir``): under another name it must be what ``.locoder`` is by
default. Commands cannot write it, file tools refuse it, the index, the memory, the notes, the audit log and the
bandit live in it, walkers pass it by, and nothing at all is written to ``.locoder``."""

import json

import pytest

from escape.world import RUNNERS
from locoder.agent.factory import build_agent
from locoder.config import load_settings
from locoder.messages import ToolCall

STATE = ".mystate"
ATTACKS = ["echo pwned > .mystate/logs/agent_audit.jsonl", "echo '{}' > .mystate/rl_state.json",
           "rm -rf .mystate", "mv .mystate gone", "touch .mystate/planted"]


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.fixture(params=RUNNERS)
def session(request, tmp_path, repo, isolated_env):
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([json.dumps({"thought": "done", "tool": "final_answer",
                                               "arguments": {"answer": "the sum is in calc.py"}})]))
    settings = load_settings({"workspace": str(repo), "model": f"scripted:{replies}", "state_dir": STATE,
                              "toolset": "all", "sandbox": request.param}, env={})
    agent = build_agent(settings)
    yield {"agent": agent, "ws": repo, "runner": request.param, "state": settings.state_paths}


def call(session, tool, **arguments):
    return session["agent"].toolbox.execute(ToolCall(tool, arguments))


def test_the_state_lives_in_the_configured_folder_and_nothing_goes_to_dot_locoder(session):
    ws, state = session["ws"], session["state"]
    assert state.root == ws / STATE
    assert "calc.py" in call(session, "search_code", query="add two numbers").output
    assert call(session, "remember", note="The tests run with plain pytest.").ok
    assert "2" in call(session, "run_python", code="print(1 + 1)").output
    session["agent"].run("where is the sum computed?")
    assert (ws / STATE / "index" / "index.db").is_file()
    assert (ws / STATE / "memory" / "memory.db").is_file()
    assert "plain pytest" in (ws / STATE / "memory_bank" / "global.md").read_text()
    assert '"type": "task"' in (ws / STATE / "logs" / "agent_audit.jsonl").read_text().replace('":"', '": "')
    assert not (ws / ".locoder").exists(), sorted(p.name for p in (ws / ".locoder").rglob("*"))
    # The index, grep and the tree walk past the state folder, and git does not see it.
    assert STATE not in call(session, "grep", pattern="plain pytest").output
    assert STATE not in call(session, "tree").output


@pytest.mark.parametrize("command", ATTACKS)
def test_commands_cannot_change_the_configured_state_folder(session, command):
    if session["runner"] == "landlock":
        pytest.skip("Landlock cannot make the state folder read-only inside a writable workspace")
    ws = session["ws"]
    call(session, "remember", note="a note the command must not lose")
    before = snapshot(ws / STATE)
    call(session, "run_command", command=command)
    assert (ws / STATE).is_dir() and not (ws / "gone").exists()
    assert snapshot(ws / STATE) == before


@pytest.mark.parametrize("path", [f"{STATE}/logs/agent_audit.jsonl", f"{STATE}/rl_state.json", f"./{STATE}/new.txt"])
def test_file_tools_refuse_the_configured_state_folder(session, path):
    result = call(session, "write_file", path=path, content="{}\n")
    assert not result.ok and "may not change" in result.output, result.output
    assert not (session["ws"] / STATE / "new.txt").exists()
