"""A process the model left running swaps a folder of the workspace with a link to a folder outside
(``renameat2(RENAME_EXCHANGE)`` in a loop) while the file tools write and read: no write may land outside,
no read may show a file outside."""

import subprocess
import sys
import time

from locoder.messages import ToolCall

SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
os.chdir(sys.argv[1])
end = time.monotonic() + float(sys.argv[2])
open("ready", "w").close()
while time.monotonic() < end:
    if libc.renameat2(AT_FDCWD, b"d", AT_FDCWD, b"l", RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
"""


def test_swapping_a_folder_for_a_link_never_sends_a_write_outside(world):
    ws, canary = world["ws"], world["canary"]
    (ws / "d").mkdir()
    (ws / "l").symlink_to(canary / "sub")
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(ws), "60"], stderr=subprocess.PIPE, text=True)
    try:
        while not (ws / "ready").exists():
            assert swapper.poll() is None, swapper.stderr.read()
            time.sleep(0.01)
        box = world["box"]
        results = []
        for i in range(1500):
            tool = "write_file" if i % 3 else "edit_file"
            args = {"path": f"d/f{i % 7}.txt", "content": f"pwned {i}\n"} if tool == "write_file" else \
                {"path": f"d/f{(i + 1) % 7}.txt", "search": "pwned", "replace": "pwned again"}
            results.append(box.execute(ToolCall(tool, args)))
        assert swapper.poll() is None, swapper.stderr.read()  # it was swapping the whole time
    finally:
        swapper.kill()
        swapper.wait()
    landed_outside = sorted(p.name for p in canary.rglob("f[0-9].txt"))
    assert landed_outside == [], f"{len(landed_outside)} writes landed outside the workspace"
    written = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert written, "no write succeeded at all"
    expected = ("outside the workspace", "changed while", "does not exist", "not found", "identical")
    assert refused and not {r.output[:120] for r in refused if not any(e in r.output for e in expected)}


LEAK = "zebra-canary-31337"


def test_swapping_a_folder_for_a_link_never_lets_a_reader_read_outside(world, tmp_path, monkeypatch):
    import os
    import shutil
    from pathlib import Path

    from locoder.tools import ToolBox, all_tools

    ws = world["ws"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.log").write_text(f"ERROR {LEAK}\n")
    (ws / "d").mkdir()
    (ws / "d" / "f.log").write_text("ERROR harmless\n")
    (ws / "l").symlink_to(outside)
    # Without ripgrep on PATH, grep is the Python fallback, which walks and opens files itself.
    bare = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "rg").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(bare))
    assert shutil.which("rg") is None
    box = ToolBox(all_tools(), world["box"].context)
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(ws), "60"], stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while not (ws / "ready").exists():
            assert swapper.poll() is None, swapper.stderr.read()
            time.sleep(0.01)
        for i in range(1000):
            call = ToolCall("grep", {"pattern": "ERROR", "path": "."}) if i % 2 else \
                ToolCall("context", {"path": "."})
            seen.append(box.execute(call).output)
            seen.append(box.execute(ToolCall("read_file", {"path": "d/f.log"})).output)
        assert swapper.poll() is None, swapper.stderr.read()
    finally:
        swapper.kill()
        swapper.wait()
    leaked = [s for s in seen if LEAK in s]
    assert not leaked, f"{len(leaked)} reads showed a file outside the workspace: {leaked[0][:200]}"
    assert any("harmless" in s for s in seen), "no read succeeded at all"
