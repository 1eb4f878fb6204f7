"""Every tool that reads (read_file, grep with ripgrep and its Python fallback, the ``context`` log digest,
the outline and tree readers) keeps to the workspace: no link out is followed, secret files are refused by
name and through a link, and grep passes secret files by."""

import os
import shutil
import threading
from pathlib import Path

import pytest

from locoder.messages import ToolCall
from locoder.tools import ToolBox, all_tools
from locoder.tools.guard import GuardedToolBox, ToolPolicy

LEAK = "zebra-canary-31337"
"""Not a secret by any format and not in the environment, so redaction cannot hide a leak from the test."""
GREPS = ["ripgrep", "python"]


@pytest.fixture
def secrets(world, tmp_path):
    """Outside: a log and a key file with the secret; inside: links to them, a .env, a link to .env."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.log").write_text(f"ERROR leaked {LEAK}\n")
    (outside / "notes.txt").write_text(f"token {LEAK}\n")
    ws = world["ws"]
    (ws / "logs").mkdir()
    (ws / "logs" / "ok.log").write_text("ERROR disk full\n")
    (ws / "logs" / "out.log").symlink_to(outside / "app.log")
    (ws / "logs" / "dir").symlink_to(outside)
    (ws / "out.txt").symlink_to(outside / "notes.txt")
    (ws / ".env").write_text(f"API_TOKEN={LEAK}x\n")
    (ws / "server.key").write_text(f"{LEAK}k\n")
    (ws / "settings.txt").symlink_to(".env")
    (ws / "code.py").write_text("print('token here')\n")
    return {**world, "box": full_box(world)}


def full_box(world):
    """Every tool (context, code_outline...), over the world's sandbox."""
    return ToolBox(all_tools(), world["box"].context)


def grep_mode(monkeypatch, mode):
    if mode == "python":
        # A PATH without ripgrep: the fallback is what runs (as on machines without rg).
        bare = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "rg").exists()]
        monkeypatch.setenv("PATH", os.pathsep.join(bare))
        assert shutil.which("rg") is None
    elif shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed")


@pytest.mark.parametrize("mode", GREPS)
def test_grep_does_not_follow_links_out_or_read_secret_files(secrets, monkeypatch, mode):
    grep_mode(monkeypatch, mode)
    box = secrets["box"]
    out = box.execute(ToolCall("grep", {"pattern": "token|leaked|zebra", "path": "."})).output
    assert LEAK not in out and "zebra" not in out, out
    assert "server.key" not in out and ".env" not in out and "settings.txt" not in out, out
    assert "code.py" in out  # the search itself works
    for path in ("logs", "logs/dir", "out.txt", "logs/out.log"):
        res = box.execute(ToolCall("grep", {"pattern": "zebra", "path": path}))
        assert LEAK not in res.output, (path, res.output)


@pytest.mark.parametrize("mode", GREPS)
@pytest.mark.parametrize("path", [".env", "settings.txt", "server.key", "./.env"])
def test_grep_refuses_a_secret_file_named_or_linked(secrets, monkeypatch, mode, path):
    grep_mode(monkeypatch, mode)
    for box in (secrets["box"], GuardedToolBox(secrets["box"], ToolPolicy())):
        res = box.execute(ToolCall("grep", {"pattern": "zebra", "path": path}))
        assert not res.ok and "secret file" in res.output and LEAK not in res.output, res.output


@pytest.mark.parametrize("tool,args", [
    ("read_file", {"path": "settings.txt"}),
    ("read_file", {"path": ".env"}),
    ("edit_file", {"path": "settings.txt", "search": "API", "replace": "X"}),
    ("write_file", {"path": "settings.txt", "content": "x"}),
    ("code_outline", {"path": "settings.txt"}),
    ("context", {"path": "settings.txt"}),
])
def test_a_link_to_a_secret_file_is_a_secret_file(secrets, tool, args):
    for box in (secrets["box"], GuardedToolBox(secrets["box"], ToolPolicy())):
        res = box.execute(ToolCall(tool, args))
        assert not res.ok and "secret file" in res.output, res.output
        assert (secrets["ws"] / ".env").read_text() == f"API_TOKEN={LEAK}x\n"


def test_the_log_digest_does_not_follow_links_out(secrets):
    out = secrets["box"].execute(ToolCall("context", {"path": "logs"})).output
    assert LEAK not in out and "leaked" not in out, out
    assert "disk full" in out
    res = secrets["box"].execute(ToolCall("context", {"path": "logs/out.log"}))
    assert not res.ok and LEAK not in res.output


@pytest.mark.parametrize("tool,args", [("context", {"path": "logs"}), ("grep", {"pattern": "x", "path": "."}),
                                        ("read_file", {"path": "logs/pipe.log"})])
def test_a_fifo_does_not_block_a_reader(world, monkeypatch, tool, args):
    grep_mode(monkeypatch, "python")
    (world["ws"] / "logs").mkdir()
    os.mkfifo(world["ws"] / "logs" / "pipe.log")
    result = []
    box = full_box(world)
    worker = threading.Thread(target=lambda: result.append(box.execute(ToolCall(tool, args))), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test run can end
        fd = os.open(world["ws"] / "logs" / "pipe.log", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail(f"{tool} blocked on a FIFO")
    assert "unknown tool" not in result[0].output
    if tool == "read_file":
        assert not result[0].ok and "not a regular file" in result[0].output, result[0].output


def test_the_code_index_never_lists_secret_files_or_links_out(secrets):
    from locoder.index.files import workspace_files

    listed = set(workspace_files(secrets["ws"]))
    assert "code.py" in listed
    assert not listed & {".env", "server.key", "settings.txt", "out.txt", "logs/out.log"}, listed
