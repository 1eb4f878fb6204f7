"""Files that are not UTF-8 text: edits keep every untouched byte (a Latin-1 file stays Latin-1), text the
file's encoding cannot hold is refused with the file unchanged, and binary files (a NUL byte anywhere, even
past the first 8 KiB) are refused, never rewritten. Checked through the agent's tools, then read back by a
command in the sandbox, per runner."""

import hashlib

import pytest

from escape.world import RUNNERS
from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.tools import ToolBox, ToolContext, default_tools


@pytest.fixture(params=RUNNERS)
def box(request, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    sandbox = Sandbox(workspace, SandboxPolicy(runner=request.param, cpu_seconds=5, memory_mb=2048))
    tools = ToolBox(default_tools(), ToolContext(workspace=workspace, command_timeout=10, command_output_chars=4000,
                                                 sandbox=sandbox))
    return tools, workspace


def call(tools, name, **arguments):
    return tools.execute(ToolCall(name, arguments))


def sha_in_sandbox(tools, name: str) -> str:
    out = call(tools, "run_command", command=f"sha256sum {name}").output
    assert "[exit code 0]" in out, out
    return out.split("[exit code 0]\n", 1)[1].split()[0]


LATIN1 = b"# caf\xe9 cr\xe8me\nx = 1\ny = 2\n"


def test_an_edit_keeps_a_latin1_file_latin1_byte_for_byte(box):
    tools, ws = box
    (ws / "m.py").write_bytes(LATIN1)
    shown = call(tools, "read_file", path="m.py")
    assert shown.ok and "café crème" in shown.output and "Latin-1" in shown.output, shown.output
    done = call(tools, "edit_file", path="m.py", search="x = 1", replace="x = 10  # d\u00e9j\u00e0")
    assert done.ok, done.output
    expected = b"# caf\xe9 cr\xe8me\nx = 10  # d\xe9j\xe0\ny = 2\n"
    assert (ws / "m.py").read_bytes() == expected
    assert sha_in_sandbox(tools, "m.py") == hashlib.sha256(expected).hexdigest()


def test_text_latin1_cannot_hold_is_refused_and_the_file_is_unchanged(box):
    tools, ws = box
    (ws / "m.py").write_bytes(LATIN1)
    for name, arguments in (("edit_file", {"search": "x = 1", "replace": "x = '\u20ac'"}),
                            ("write_file", {"content": "price = '\u20ac'\n"})):
        refused = call(tools, name, path="m.py", **arguments)
        assert not refused.ok and "not saved" in refused.output and "Latin-1" in refused.output, refused.output
        assert (ws / "m.py").read_bytes() == LATIN1


def test_write_file_over_a_latin1_file_keeps_its_encoding(box):
    tools, ws = box
    (ws / "notes.txt").write_bytes(b"ol\xe9\n")
    assert call(tools, "write_file", path="notes.txt", content="ol\u00e9 again\n").ok
    assert (ws / "notes.txt").read_bytes() == b"ol\xe9 again\n"


def test_utf8_files_keep_their_bom_and_line_endings(box):
    tools, ws = box
    original = "\ufeffa = 'é'\r\nb = 2\r\nc = 3\r\n".encode()
    (ws / "w.py").write_bytes(original)
    assert call(tools, "edit_file", path="w.py", search="b = 2", replace="b = 'ü'").ok
    assert (ws / "w.py").read_bytes() == original.replace(b"b = 2", "b = 'ü'".encode())


def test_a_lone_surrogate_from_the_model_is_refused_not_written(box):
    tools, ws = box
    refused = call(tools, "write_file", path="new.txt", content="bad \ud800 text\n")
    assert not refused.ok and "not saved" in refused.output and not (ws / "new.txt").exists(), refused.output


def test_a_binary_file_with_its_first_nul_past_8_kib_is_refused_and_never_rewritten(box):
    tools, ws = box
    data = b"x = 1\n" * 2000 + b"\x00\x01\x02\xff" + b"tail = 2\n"
    assert b"\0" not in data[:8192]
    (ws / "blob.py").write_bytes(data)
    for name, arguments in (("read_file", {}), ("edit_file", {"search": "tail = 2", "replace": "tail = 3"}),
                            ("write_file", {"content": "x = 1\n"})):
        refused = call(tools, name, path="blob.py", **arguments)
        assert not refused.ok and "binary" in refused.output, refused.output
    assert (ws / "blob.py").read_bytes() == data
    assert sha_in_sandbox(tools, "blob.py") == hashlib.sha256(data).hexdigest()
    hits = call(tools, "grep", pattern="tail", path=".")
    assert "blob.py" not in hits.output  # grep skips it as binary too (ripgrep and the fallback agree)
