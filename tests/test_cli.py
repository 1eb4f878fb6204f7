"""The command line as a user runs it: real subprocesses, scripted model for the loop's logic."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import action
from locoder.audit import read_audit_log
from locoder.sandbox import landlock


def locoder(*args, cwd=None, env=None, timeout=60, input=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "locoder", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, input=input)


def script(tmp_path: Path, replies) -> str:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    return f"scripted:{path}"


@pytest.fixture
def env(isolated_env):
    return {"HOME": str(isolated_env), "XDG_CONFIG_HOME": str(isolated_env / ".config"), "COLUMNS": "200"}


def test_help_is_fast_and_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "locoder", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "locoder run" in out.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"httpx", "xllamacpp", "rich", "prompt_toolkit", "torch"}


def test_run_succeeds_and_writes_the_audit_log(tmp_path, repo, env):
    model = script(tmp_path, [action("write_file", path="hello.py", content="print('hi')\n"),
                              action("run_command", command="python3 hello.py"),
                              action("final_answer", answer="created and ran hello.py")])
    out = locoder("run", "make hello", "--workspace", str(repo), "--model", model, env=env)
    assert out.returncode == 0, out.stderr
    assert "created and ran hello.py" in out.stdout and (repo / "hello.py").exists()
    records = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")
    # In a git repository the task's change is committed when it ends (the "changes" record).
    assert [r["type"] for r in records] == ["session", "task", "step", "step", "step", "result", "changes", "summary"]
    assert records[0]["settings"]["workspace"] == str(repo) and records[0]["tool_mode"] == "constrained"
    assert "hi" in records[3]["observations"][0]["output"]


def test_once_is_an_alias_and_failure_exits_nonzero(tmp_path, repo, env):
    model = script(tmp_path, ["not a tool call"] * 10)
    out = locoder("--once", "do it", "--workspace", str(repo), "--model", model, env=env)
    assert out.returncode == 1 and "could not be used" in out.stdout


def test_flags_after_the_subcommand_and_custom_audit_log(tmp_path, repo, env):
    log = tmp_path / "elsewhere" / "audit.jsonl"
    model = script(tmp_path, [action("final_answer", answer="ok")])
    out = locoder("run", "x", "-w", str(repo), "-m", model, "--audit-log", str(log), "--max-steps", "2", env=env)
    assert out.returncode == 0, out.stderr
    session = read_audit_log(log)[0]
    assert session["settings"]["max_steps"] == 2


def test_remember_appends_a_timestamped_note_used_in_the_next_session(tmp_path, repo, env):
    for note in ("tests run with make test", "the main module is calc.py"):
        out = locoder("--remember", note, "--workspace", str(repo), env=env)
        assert out.returncode == 0, out.stderr
    notes = (repo / ".locoder" / "memory_bank" / "global.md").read_text()
    assert re.search(r"^- \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ tests run with make test$", notes, re.M)
    assert notes.index("make test") < notes.index("calc.py")
    locoder("run", "x", "-w", str(repo), "-m", script(tmp_path, [action("final_answer", answer="ok")]), env=env)
    prompt = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")[0]["system_prompt"]
    assert "tests run with make test" in prompt and "calc.py" in prompt


def test_dead_server_gives_one_line_and_nonzero_exit(repo, env):
    out = locoder("run", "x", "-w", str(repo), "-m", "http://127.0.0.1:9/v1", "--model-name", "m", env=env)
    assert out.returncode == 3
    assert "cannot reach the model server" in out.stderr and "Traceback" not in out.stdout + out.stderr
    # With the tool mode given there is no probe: the task starts and fails on its first step.
    out = locoder("run", "x", "-w", str(repo), "-m", "http://127.0.0.1:9/v1", "--model-name", "m",
                  "--tool-mode", "native", env=env)
    assert out.returncode == 1 and "cannot reach the model server" in out.stdout


def test_unknown_model_and_bad_flag_values(repo, env):
    out = locoder("run", "x", "-w", str(repo), "-m", "no-such-model", env=env)
    assert out.returncode == 2 and "unknown model 'no-such-model'" in out.stderr and "Traceback" not in out.stderr
    out = locoder("run", "x", "-w", str(repo), "--max-steps", "0", env=env)
    assert out.returncode == 2 and "max_steps must be at least 1" in out.stderr


def test_missing_workspace_and_unwritable_state(tmp_path, repo, env):
    out = locoder("run", "x", "-w", str(tmp_path / "absent"), env=env)
    assert out.returncode == 2 and "not a directory" in out.stderr
    (repo / ".locoder").write_text("a file where the state folder should be")
    out = locoder("--remember", "x", "-w", str(repo), env=env)
    assert out.returncode == 2 and "cannot write the state folder" in out.stderr
    assert (repo / ".locoder").read_text().startswith("a file")


def test_models_list_and_path(tmp_path, env):
    out = locoder("models", "list", "--models-dir", str(tmp_path), env=env)
    assert out.returncode == 0
    assert "qwen2.5-coder-1.5b" in out.stdout and "missing" in out.stdout and "qwen2.5-coder-0.5b" in out.stdout
    out = locoder("models", "path", "qwen2.5-coder-0.5b", "--models-dir", str(tmp_path), env=env)
    assert out.returncode == 1 and out.stdout.strip().endswith("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    out = locoder("models", "verify", "qwen2.5-coder-0.5b", "--models-dir", str(tmp_path), env=env)
    assert out.returncode == 1 and "MISSING OR CORRUPT" in out.stdout


def test_kill_mid_step_leaves_a_readable_audit_log(tmp_path, repo, env):
    import signal
    import time

    model = script(tmp_path, [action("list_files"), action("run_command", command="sleep 27.18")])
    proc = subprocess.Popen([sys.executable, "-m", "locoder", "run", "x", "-w", str(repo), "-m", model],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = repo / ".locoder" / "logs" / "agent_audit.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (log.exists() and '"step": 1' in log.read_text()):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["pkill", "-f", "sleep 27.18"])
    records = read_audit_log(log)
    assert [r["type"] for r in records] == ["session", "task", "step"]
    assert log.read_text().endswith("\n")


def test_full_disk_under_the_audit_log_warns_and_the_task_still_runs(tmp_path, repo, env):
    model = script(tmp_path, [action("final_answer", answer="done anyway")])
    out = locoder("run", "x", "-w", str(repo), "-m", model, "--audit-log", "/dev/full", env=env)
    assert out.returncode == 0 and "done anyway" in out.stdout
    assert out.stderr.count("cannot be written") == 1 and "continuing without it" in out.stderr


def test_secret_values_never_reach_the_model_or_the_audit_log(tmp_path, repo, env):
    key = "sk-proj-" + "Zq8" * 12
    (repo / "config.env").write_text(f"OPENAI_API_KEY={key}\nDEBUG=1\n")
    model = script(tmp_path, [action("run_command", command="cat config.env; echo $OPENAI_API_KEY"),
                              action("read_file", path="config.env"),
                              action("final_answer", answer="done")])
    out = locoder("run", "x", "-w", str(repo), "-m", model, env={**env, "OPENAI_API_KEY": key})
    assert out.returncode == 0, out.stderr
    log = (repo / ".locoder" / "logs" / "agent_audit.jsonl").read_text()
    assert key not in log and key not in out.stdout
    steps = [r for r in read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl") if r["type"] == "step"]
    assert "[REDACTED" in steps[0]["observations"][0]["output"] and "DEBUG=1" in steps[1]["observations"][0]["output"]


@pytest.mark.skipif(landlock.abi() < 1, reason="the kernel has no Landlock")
def test_doctor_names_the_runner_and_what_it_does_not_cover(repo, env):
    proc = locoder("doctor", "-w", str(repo), "--sandbox", "landlock", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "runner landlock" in out and f"landlock ABI {landlock.abi()}" in out
    assert "NOT covered: .locoder" in out and "TCP off" in out
    plain = " ".join(locoder("doctor", "-w", str(repo), "--sandbox", "plain", cwd=repo, env=env).stdout.split())
    assert "runner plain" in plain and "NOT confined" in plain


def test_the_state_folder_stays_out_of_git_status(tmp_path, env):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("*.log")  # no final newline
    replies = [action("final_answer", answer="nothing to do")]
    for _ in range(2):  # the line is added once, not again on the next session
        done = locoder("-w", str(repo), "run", "say hi", "--model", script(tmp_path, replies), "--workflow", "loop",
                       env=env)
        assert done.returncode == 0, done.stderr
    assert (repo / ".locoder").is_dir()
    assert (repo / ".git" / "info" / "exclude").read_text() == "*.log\n/.locoder/\n"
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""


def test_workspace_before_or_after_the_command_means_the_same(tmp_path, env):
    """``locoder -w DIR grep X`` searches DIR, as ``locoder grep -w DIR X`` does, not the current folder."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "marker.py").write_text("NEEDLE_IN_PROJECT = 1\n")
    (elsewhere / "other.py").write_text("nothing = 0\n")
    before = locoder("-w", str(project), "grep", "NEEDLE_IN_PROJECT", cwd=elsewhere, env=env)
    after = locoder("grep", "-w", str(project), "NEEDLE_IN_PROJECT", cwd=elsewhere, env=env)
    here = locoder("grep", "NEEDLE_IN_PROJECT", cwd=elsewhere, env=env)
    assert before.returncode == 0 and "marker.py" in before.stdout, before.stdout + before.stderr
    assert before.stdout == after.stdout
    assert "marker.py" not in here.stdout
