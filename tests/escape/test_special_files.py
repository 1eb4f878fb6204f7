"""Special files planted in the workspace (a FIFO nobody writes to, a unix socket): every reader skips or refuses
them and none blocks: grep (ripgrep and the Python fallback), the ``context`` log tool, read_file, write_file,
edit_file, the indexer and code_outline. Each call runs under a deadline; a blocked reader fails the test."""

import os
import shutil
import socket
import threading

import pytest

from escape.world import RUNNERS
from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.tools import ToolBox, ToolContext, all_tools

DEADLINE = 10


@pytest.fixture(params=RUNNERS)
def planted(request, tmp_path, monkeypatch):
    """A workspace with a FIFO where a log, a source file and a text file would be, and a unix socket."""
    workspace = tmp_path / "ws"
    (workspace / "logs").mkdir(parents=True)
    (workspace / "logs" / "real.log").write_text("2026-01-01 10:00:00 ERROR needle broke\n")
    (workspace / "code.py").write_text("def needle():\n    return 1\n")
    fifos = [workspace / "logs" / "app.log", workspace / "pipe.py", workspace / "notes.txt"]
    for fifo in fifos:
        os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    monkeypatch.chdir(tmp_path)  # a short relative name: socket paths are limited to 108 bytes
    server.bind(os.path.relpath(workspace / "sock.log", tmp_path))
    server.listen(1)
    sandbox = Sandbox(workspace, SandboxPolicy(runner=request.param, cpu_seconds=5, memory_mb=2048))
    box = ToolBox(all_tools(), ToolContext(workspace=workspace, command_timeout=5, command_output_chars=4000,
                                               sandbox=sandbox))
    yield {"ws": workspace, "box": box, "fifos": fifos}
    server.close()
    for fifo in fifos:  # wake any reader that did block, so no thread is left behind
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass


def call(box, tool: str, **arguments):
    """The tool's observation, or a failure when it does not return within DEADLINE seconds."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(box.execute(ToolCall(tool, arguments))), daemon=True)
    worker.start()
    worker.join(DEADLINE)
    assert out, f"{tool}({arguments}) blocked for more than {DEADLINE}s"
    return out[0]


@pytest.mark.parametrize("fallback", [False, True], ids=["ripgrep", "python"])
def test_grep_skips_special_files_with_either_engine(planted, fallback, monkeypatch):
    if fallback:
        monkeypatch.setenv("PATH", "/nonexistent")
    else:
        assert shutil.which("rg"), "ripgrep is needed for this case"
    result = call(planted["box"], "grep", pattern="needle")
    assert result.ok and "code.py:1:def needle" in result.output and "real.log" in result.output, result.output
    for name in ("pipe.py", "logs/app.log", "sock.log"):
        refused = call(planted["box"], "grep", pattern="needle", path=name)
        assert not refused.ok and "not a regular file" in refused.output, refused.output


def test_the_context_tool_digests_real_logs_and_skips_special_ones(planted):
    result = call(planted["box"], "context", path="logs")
    assert result.ok and "needle broke" in result.output, result.output
    refused = call(planted["box"], "context", path="logs/app.log")
    assert not refused.ok and "not a regular file" in refused.output


@pytest.mark.parametrize("tool,arguments", [
    ("read_file", {}),
    ("edit_file", {"search": "a", "replace": "b"}),
    ("write_file", {"content": "replaced\n"}),
    ("code_outline", {}),
])
def test_the_file_tools_refuse_special_files(planted, tool, arguments):
    for name in ("pipe.py", "notes.txt", "sock.log"):
        result = call(planted["box"], tool, path=name, **arguments)
        assert not result.ok and ("not a regular file" in result.output or "not an indexed file" in result.output), \
            result.output
    for fifo in planted["fifos"]:
        assert os.path.exists(fifo) and not os.path.isfile(fifo)  # nothing replaced the FIFO


def test_the_indexer_and_code_search_skip_special_files(planted):
    result = call(planted["box"], "search_code", query="needle")
    assert result.ok and "code.py" in result.output and "pipe.py" not in result.output, result.output
    result = call(planted["box"], "code_outline", path="code.py")
    assert result.ok and "needle" in result.output, result.output


STATE_FILES = ["logs/agent_audit.jsonl", "memory_bank/global.md", "rl_state.json", "rl_events.jsonl",
               "plans/latest.json", "index/bm25.npz"]


@pytest.mark.parametrize("runner", RUNNERS)
def test_fifos_in_the_state_folder_hang_neither_this_session_nor_the_next(tmp_path, runner):
    """Landlock leaves .locoder writable to commands: a command replaces locoder's own files with FIFOs (by
    hand where bubblewrap stops it), and locoder still finishes, then starts again, within a deadline."""
    import json
    import subprocess
    import sys

    from conftest import action

    workspace, home = tmp_path / "ws", tmp_path / "home"
    workspace.mkdir()
    home.mkdir()
    (workspace / "a.py").write_text("def a():\n    return 1\n")
    state = workspace / ".locoder"
    plant = " && ".join(f"mkdir -p .locoder/{os.path.dirname(p)} && rm -f .locoder/{p} && mkfifo .locoder/{p}"
                        for p in STATE_FILES)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_SANDBOX"):
        env.pop(name, None)

    def session(*replies: str, extra=()):
        script = tmp_path / f"replies-{len(list(tmp_path.glob('replies-*')))}.json"
        script.write_text(json.dumps(list(replies)))
        return subprocess.run([sys.executable, "-m", "locoder", "run", "look", "-w", str(workspace), "-m",
                               f"scripted:{script}", "--sandbox", runner, "--workflow", "loop", *extra],
                              capture_output=True, text=True, timeout=60, env=env)

    first = session(action("run_command", command=plant), action("search_code", query="a"),
                    action("final_answer", answer="planted"))
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    for rel in STATE_FILES:  # where the runner stopped the command, plant them now
        target = state / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.exists(target) or os.path.isfile(target):
            if os.path.lexists(target):
                os.unlink(target)
            os.mkfifo(target)
    second = session(action("search_code", query="a"), action("final_answer", answer="again"))
    assert second.returncode == 0 and "again" in second.stdout and "Traceback" not in second.stderr, second.stderr
    assert "not a regular file" in second.stderr  # the audit log says why it is off, once
    remembered = subprocess.run([sys.executable, "-m", "locoder", "--remember", "a note", "-w", str(workspace)],
                                capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in remembered.stderr and remembered.returncode != 0 or "a note" in remembered.stdout, \
        remembered.stderr
