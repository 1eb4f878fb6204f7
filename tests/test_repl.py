"""The interactive session in a real pseudo-terminal."""

import json
import os
import subprocess
import sys
import time

import pexpect
import pytest

from conftest import action

PROMPT = "locoder>"


@pytest.fixture
def spawn(tmp_path, repo, isolated_env):
    children = []

    def start(replies):
        path = tmp_path / "replies.json"
        path.write_text(json.dumps(replies))
        env = {**os.environ, "HOME": str(isolated_env), "XDG_CONFIG_HOME": str(isolated_env / ".config"),
               "COLUMNS": "120", "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
        child = pexpect.spawn(sys.executable, ["-m", "locoder", "-w", str(repo), "-m", f"scripted:{path}"],
                              env=env, encoding="utf-8", timeout=30, dimensions=(40, 120))
        children.append(child)
        child.expect_exact(PROMPT)
        return child

    yield start
    for child in children:
        child.close(force=True)


def test_task_then_ctrl_d_exits(spawn, repo):
    child = spawn([action("read_file", path="calc.py"), action("final_answer", answer="add returns a + b")])
    child.sendline("what does add return?")
    child.expect("add returns a \\+ b")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect("bye")
    child.expect("session summary")
    child.expect("asked    1. what does add return\\?  \\(submitted\\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "what does add return?" in (repo / ".locoder" / "history").read_text()


def test_ctrl_c_cancels_a_running_command_and_the_session_goes_on(spawn, repo):
    marker = "31.4159"
    child = spawn([action("run_command", command=f"sleep {marker}"), action("final_answer", answer="second task done")])
    child.sendline("wait a while")
    child.expect("approve run_command")
    child.expect("run it\\?")
    child.sendline("y")
    time.sleep(2.5)
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True).returncode == 0
    child.sendintr()
    child.expect("step cancelled; the session goes on")
    child.expect_exact(PROMPT)
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True).returncode == 1
    child.sendline("now finish")
    child.expect("second task done")
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)


def test_slash_commands(spawn, repo):
    child = spawn([])
    for line, reply in [("/help", "Ctrl-C cancels the current step"), ("/remember deploy with make release", "noted in"),
                        ("/bogus", "unknown command /bogus")]:
        child.sendline(line)
        child.expect(reply)
        child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "deploy with make release" in (repo / ".locoder" / "memory_bank" / "global.md").read_text()


def test_approval_shows_the_diff_and_a_no_reaches_the_model(spawn, repo):
    child = spawn([action("edit_file", path="calc.py", search="return x * 3", replace="return x * 4"),
                   action("final_answer", answer="left it alone")])
    child.sendline("make scale multiply by 4")
    child.expect("approve edit_file")
    child.expect(r"\+    return x \* 4")
    child.expect("run it\\?")
    child.sendline("n")
    child.expect("left it alone")
    child.expect_exact(PROMPT)
    assert "return x * 3" in (repo / "calc.py").read_text()
    log = (repo / ".locoder" / "logs" / "agent_audit.jsonl").read_text()
    assert "the user declined this action" in log


def test_always_approves_the_same_command_again(spawn, repo):
    child = spawn([action("run_command", command="echo one"), action("run_command", command="echo one"),
                   action("final_answer", answer="ran twice")])
    child.sendline("echo twice")
    child.expect("run it\\?")
    child.sendline("a")
    child.expect("ran twice")
    assert child.before.count("run it?") == 0
