"""The Landlock runner: its rule building, its launcher, and how ``auto`` falls back to it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.sandbox import Sandbox, SandboxPolicy, landlock, run_command, runners

needs_landlock = pytest.mark.skipif(landlock.abi() < 1, reason="the kernel has no Landlock")


def test_carve_covers_everything_but_the_hidden_paths(tmp_path):
    (tmp_path / "a" / "secret").mkdir(parents=True)
    (tmp_path / "a" / "open").mkdir()
    (tmp_path / "a" / "file.txt").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a" / "secret")
    root = str(tmp_path)
    carved = landlock.carve(root, [f"{root}/a/secret"])
    assert carved == [f"{root}/a/file.txt", f"{root}/a/open", f"{root}/b"]
    assert landlock.carve(root, []) == [root]
    assert landlock.carve(root, [root]) == []


def test_spec_grants_writes_only_to_the_workspace_scratch_and_devices(tmp_path):
    spec = landlock.landlock_spec(version=7, workspace=str(tmp_path / "ws"), writable=True, network=False,
                                  hidden=["/root", "/tmp"], exposed=["/opt/tool"], scratch="/tmp/locoder-cmd-x")
    writable = {path for path, rights in spec["rules"] if rights & landlock.WRITE_FILE}
    assert writable == {str(tmp_path / "ws"), "/tmp/locoder-cmd-x", "/dev/shm", *landlock.DEVICES}
    readable = {path for path, _ in spec["rules"]}
    assert "/root" not in readable and "/tmp" not in readable and "/usr" in readable and "/opt/tool" in readable
    assert spec["net"] == landlock.NET_BIND_TCP | landlock.NET_CONNECT_TCP
    assert spec["scoped"] == landlock.SCOPE_SIGNAL | landlock.SCOPE_ABSTRACT_UNIX_SOCKET
    read_only = landlock.landlock_spec(version=3, workspace="/w", writable=False, network=True, hidden=[],
                                       exposed=[], scratch="/s")
    assert ("/w", landlock.READ) in [tuple(r) for r in read_only["rules"]]
    assert read_only["net"] == 0 and read_only["scoped"] == 0  # ABI 3 knows neither
    no_namespace = landlock.landlock_spec(version=7, workspace="/w", writable=True, network=False, hidden=[],
                                          exposed=[], scratch="/s", private_shm=False, unix_sockets=True)
    assert "/dev/shm" not in {path for path, _ in no_namespace["rules"]}  # the host's: hidden
    assert "/dev/null" in {path for path, _ in no_namespace["rules"]}
    assert no_namespace["scoped"] == landlock.SCOPE_SIGNAL  # abstract sockets allowed with unix_sockets


def test_the_launcher_never_runs_a_command_it_could_not_confine(tmp_path):
    bad = {"abi": 1, "fs": 1 << 62, "net": 0, "scoped": 0, "rules": [("/", landlock.READ)]}
    assert landlock.parse_args(landlock.spec_args(bad)) == bad
    proc = subprocess.run([sys.executable, "-I", "-S", landlock.__file__, *landlock.spec_args(bad), "--",
                           "touch", str(tmp_path / "ran")], capture_output=True, text=True)
    assert proc.returncode == 126 and "could not confine" in proc.stderr
    assert not (tmp_path / "ran").exists()
    usage = subprocess.run([sys.executable, "-I", "-S", landlock.__file__], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_auto_falls_back_to_landlock_when_bubblewrap_cannot_run(monkeypatch):
    monkeypatch.setattr(runners, "bubblewrap_works", lambda: False)
    monkeypatch.setattr(landlock, "abi", lambda: 3)
    assert runners.resolve_runner(SandboxPolicy()) == "landlock"
    monkeypatch.setattr(landlock, "abi", lambda: 0)
    assert runners.resolve_runner(SandboxPolicy()) == "plain"
    monkeypatch.setattr(runners, "bubblewrap_works", lambda: True)
    assert runners.resolve_runner(SandboxPolicy()) == "bubblewrap"


@needs_landlock
def test_commands_get_a_private_home_and_tmp_that_are_removed_after(tmp_path):
    sandbox = Sandbox(tmp_path, SandboxPolicy(runner="landlock"))
    result = sandbox.run('echo "$HOME $TMPDIR"; touch "$HOME/.bashrc" "$TMPDIR/x" && echo wrote', timeout=10,
                         max_output=2000)
    home, tmp = result.output.split()[:2]
    assert "wrote" in result.output and home.startswith("/tmp/locoder-cmd-") and tmp.startswith("/tmp/locoder-cmd-")
    assert not Path(home).exists(), "the scratch folder outlived the command"


@needs_landlock
def test_processes_outside_the_command_cannot_be_signalled_or_traced(tmp_path):
    if landlock.abi() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    victim = subprocess.Popen(["sleep", "30"])
    try:
        sandbox = Sandbox(tmp_path, SandboxPolicy(runner="landlock"))
        result = sandbox.run(f"kill {victim.pid}; cat /proc/{victim.pid}/environ", timeout=10, max_output=2000)
        # Not permitted by Landlock's scopes, or not even there in the command's own pid namespace.
        assert re.search("Operation not permitted|No such process", result.output), result.output
        assert re.search("Permission denied|No such file", result.output), result.output
        assert victim.poll() is None, "a sandboxed command killed a process outside it"
    finally:
        victim.kill()
        victim.wait()


def test_a_signal_death_is_named_in_the_status(tmp_path):
    result = run_command("kill -XFSZ $$", tmp_path)
    assert result.status == "exit code 153 (killed by SIGXFSZ)"
    assert run_command("exit 3", tmp_path).status == "exit code 3"


def test_doctor_says_what_each_runner_does_not_contain(tmp_path, monkeypatch):
    from locoder.sandbox.runners import describe_runners

    described = describe_runners(tmp_path, SandboxPolicy())
    assert "NOT confined" in described["plain"]["filesystem"] and "NOT" in described["plain"]["unix_sockets"]
    if "landlock" in described:
        assert "UDP" in described["landlock"]["network"]
        monkeypatch.setattr(runners, "NAMESPACES", False)
        alone = Sandbox(tmp_path, SandboxPolicy(runner="landlock")).describe()
        assert "NOT private: /proc" in alone["filesystem"] and "subreaper" in alone["leftover_processes"]
    widened = Sandbox(tmp_path, SandboxPolicy(runner="landlock", unix_sockets=True, disk_mb=0)).describe()
    assert "reachable" in widened["unix_sockets"] and "NOT capped" in widened["disk"]
