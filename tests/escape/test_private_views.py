"""/dev/shm and /proc are the command's own: a secret the host keeps in shared memory cannot be read or
changed, and other processes' command lines (where a key given as a flag would show) are not visible. Under
Landlock without a pid namespace, the host's /dev/shm is hidden instead and /proc stays shared (skipped with
that reason, and said in the README)."""

import subprocess
import uuid
from pathlib import Path

import pytest

from escape.world import SECRET, run
from locoder.sandbox import runners


@pytest.fixture(params=["namespaces", "no namespaces"])
def views(request, monkeypatch):
    if request.param == "no namespaces":
        monkeypatch.setattr(runners, "NAMESPACES", False)
    shm = Path("/dev/shm") / f"locoder-shm-{uuid.uuid4().hex[:8]}"
    shm.write_text(SECRET)
    yield {"mode": request.param, "shm": shm}
    shm.unlink(missing_ok=True)
    for leftover in Path("/dev/shm").glob("locoder-planted-*"):
        leftover.unlink()


def test_host_shared_memory_cannot_be_read_or_changed(world, views):
    if world["runner"] == "bubblewrap" and views["mode"] == "no namespaces":
        pytest.skip("bubblewrap always has its namespaces")
    shm = views["shm"]
    out = run(world, f"cat {shm}; ls /dev/shm | sed 's/^/listed:/'; echo pwned > {shm}; echo x > /dev/shm/locoder-planted-1; "
                     "python3 -c \"from multiprocessing import shared_memory as s; m = s.SharedMemory("
                     "'locoder-planted-2', create=True, size=10); print('made')\"")
    assert SECRET not in out and f"listed:{shm.name}" not in out, out
    assert shm.read_text() == SECRET
    assert not list(Path("/dev/shm").glob("locoder-planted-*")), "a command wrote into the host's /dev/shm"


def test_shared_memory_works_inside_the_command_where_it_can_be_private(world, views):
    if views["mode"] == "no namespaces":
        pytest.skip("without a mount namespace the host's /dev/shm is hidden, not replaced")
    out = run(world, "echo kept > /dev/shm/own && cat /dev/shm/own")
    assert "kept" in out


def test_other_processes_command_lines_are_not_visible(world, views):
    if views["mode"] == "no namespaces":
        if world["runner"] == "landlock":
            pytest.skip("Landlock without a pid namespace cannot hide /proc/*/cmdline (locoder blanks its own keys)")
        pytest.skip("bubblewrap always has its namespaces")
    host = subprocess.Popen(["python3", "-c", "import time; time.sleep(30)", f"--api-key={SECRET}"])
    try:
        out = run(world, "cat /proc/*/cmdline | tr '\\0' ' '; ps -ef")
        assert SECRET not in out
        assert f" {host.pid} " not in out.replace("\n", " ")
    finally:
        host.kill()
        host.wait()
