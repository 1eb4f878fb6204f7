"""Every process a command starts ends with it, also where no pids cgroup can be made (non-root machines;
simulated here by offering the sandbox no cgroup root) and, under Landlock, where no pid namespace can be
made either (the launcher's subreaper alone must then find and kill them)."""

import subprocess
import time
import uuid

import pytest

from escape.world import run
from locoder.sandbox import runners

ESCAPES = [
    "setsid sleep {marker} > /dev/null 2>&1 < /dev/null & echo started",
    "nohup sleep {marker} > /dev/null 2>&1 & echo started",
    "(setsid sh -c 'sleep {marker} & sleep {marker}' &) ; echo started",
    "python3 -c \"import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
    "        os.execvp('sleep', ['sleep', '{marker}'])\n    os._exit(0)\nprint('started')\"",
    "sleep {marker} & disown; echo started",
]


def alive(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
    return out.split()


@pytest.fixture(params=["pid namespace", "subreaper only"])
def no_cgroups(request, monkeypatch):
    monkeypatch.setattr(runners, "CGROUP_ROOTS", ())
    if request.param == "subreaper only":
        monkeypatch.setattr(runners, "NAMESPACES", False)
    return request.param


@pytest.mark.parametrize("command", ESCAPES, ids=["setsid", "nohup", "setsid-subshell", "double-fork", "disown"])
def test_nothing_outlives_its_command_without_a_cgroup(world, no_cgroups, command):
    if world["runner"] == "bubblewrap" and no_cgroups == "subreaper only":
        pytest.skip("bubblewrap always has its pid namespace; the subreaper is the Landlock launcher's")
    marker = str(1000 + uuid.uuid4().int % 9000)  # a sleep no other test runs
    assert runners.pids_cgroup_root() is None
    assert "started" in run(world, command.replace("{marker}", marker))
    deadline = time.monotonic() + 1
    while alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(marker)
    for pid in left:
        subprocess.run(["kill", "-9", pid])
    assert not left, f"{len(left)} process(es) outlived the command"


def test_nothing_outlives_a_command_that_timed_out(world, no_cgroups):
    marker = str(1000 + uuid.uuid4().int % 9000)
    out = run(world, f"setsid sleep {marker} > /dev/null 2>&1 < /dev/null & sleep 60")
    assert "timed out" in out
    time.sleep(0.3)
    left = alive(marker)
    for pid in left:
        subprocess.run(["kill", "-9", pid])
    assert not left, "a process outlived a command that was killed on timeout"


def test_the_command_cannot_kill_its_supervisor(world, no_cgroups):
    # Under Landlock the supervisor is the command's parent, outside its rules: killing it must not set
    # the command's children free.
    if world["runner"] == "landlock":
        from locoder.sandbox import landlock

        if landlock.abi() < 6:
            pytest.skip("Landlock scopes signals from ABI 6")
    marker = str(1000 + uuid.uuid4().int % 9000)
    run(world, f"setsid sleep {marker} > /dev/null 2>&1 < /dev/null & kill -9 $PPID; kill -9 1; echo tried")
    time.sleep(0.3)
    left = alive(marker)
    for pid in left:
        subprocess.run(["kill", "-9", pid])
    assert not left
