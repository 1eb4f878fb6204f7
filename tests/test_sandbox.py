"""run_command with real processes: exit codes, timeouts, process-group cleanup, output caps."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from locoder.sandbox.local import run_command


def is_gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for an init that reaps slowly (it cannot run any more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pid: int, grace: float = 10.0) -> bool:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())


@pytest.fixture
def reap():
    """Pids a test started; any still running at the end are killed so nothing outlives the test."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- results ---


def test_exit_code_and_ok(tmp_path):
    assert run_command("true", tmp_path).exit_code == 0
    assert run_command("true", tmp_path).ok
    failed = run_command("exit 3", tmp_path)
    assert failed.exit_code == 3
    assert not failed.ok
    assert not failed.timed_out


def test_stdout_and_stderr_are_merged_in_order(tmp_path):
    result = run_command("echo out; echo err >&2; echo out2", tmp_path)
    assert result.output == "out\nerr\nout2\n"
    assert result.truncated_chars == 0


def test_runs_in_the_given_folder(tmp_path):
    (tmp_path / "marker.txt").write_text("here")
    result = run_command("pwd; cat marker.txt", tmp_path)
    assert result.output.splitlines() == [str(tmp_path.resolve()), "here"]


def test_env_replaces_the_environment_when_given(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCODER_SANDBOX_PARENT_VAR", "leaked")
    env = {"PATH": os.environ["PATH"], "ONLY_THIS": "yes"}
    result = run_command('echo "$ONLY_THIS/${LOCODER_SANDBOX_PARENT_VAR:-unset}"', tmp_path, env=env)
    assert result.output == "yes/unset\n"


def test_missing_cwd_returns_a_failed_result_instead_of_raising(tmp_path):
    missing = tmp_path / "does-not-exist"
    result = run_command("echo never", missing)
    assert result.exit_code is None
    assert not result.ok
    assert not result.timed_out
    assert result.output.startswith("could not start command:")
    assert "No such file or directory" in result.output
    assert "does-not-exist" in result.output
    assert "never" not in result.output


def test_binary_and_invalid_utf8_output_is_decoded_with_replacement(tmp_path):
    # A lone lead byte (\xc3 then a newline), and random bytes cut mid-character by the head/tail cap.
    result = run_command(r"printf 'a\xff\xfe\x00b\xc3\n'; head -c 3000 /dev/urandom", tmp_path, max_output=1000)
    assert result.exit_code == 0
    assert result.output.startswith("a\ufffd\ufffd\x00b\ufffd\n")
    assert "bytes of output omitted" in result.output


# --- timeouts and process groups ---


def test_timeout_kills_the_command_and_its_children(tmp_path, reap):
    start = time.monotonic()
    result = run_command("echo before; sleep 300 & echo $! > child.pid; sleep 300", tmp_path, timeout=1)
    elapsed = time.monotonic() - start
    child = read_pid(tmp_path / "child.pid")
    reap.append(child)

    assert result.timed_out
    assert result.exit_code is None
    assert not result.ok
    assert result.output.startswith("before\n")
    assert "timed out after 1s and was killed" in result.output
    assert elapsed < 5
    assert wait_gone(child), f"child {child} of the timed-out command is still running"


def test_background_process_left_by_an_exited_command_is_killed(tmp_path, reap):
    result = run_command("(sleep 300 & echo $! > bg.pid); echo done", tmp_path, timeout=30)
    child = read_pid(tmp_path / "bg.pid")
    reap.append(child)

    assert result.exit_code == 0
    assert result.output == "done\n"
    assert result.seconds < 5
    assert wait_gone(child), f"background process {child} outlived the command"


def test_background_process_with_redirected_output_is_killed_too(tmp_path, reap):
    result = run_command("nohup sleep 300 >/dev/null 2>&1 & echo $! > bg.pid", tmp_path, timeout=30)
    child = read_pid(tmp_path / "bg.pid")
    reap.append(child)

    assert result.exit_code == 0
    assert result.seconds < 5
    assert wait_gone(child), f"background process {child} outlived the command"


def test_setsid_escapee_holding_stdout_does_not_hang_and_output_is_marked_ignored(tmp_path, reap):
    command = (
        "setsid bash -c 'echo $$ > escaped.pid; exec sleep 300' & "
        "while [ ! -s escaped.pid ]; do sleep 0.05; done; echo started"
    )
    start = time.monotonic()
    result = run_command(command, tmp_path, timeout=30)
    elapsed = time.monotonic() - start
    escaped = read_pid(tmp_path / "escaped.pid")
    reap.append(escaped)

    assert elapsed < 6
    assert result.exit_code == 0
    assert not result.timed_out
    assert result.output.startswith("started\n")
    assert "still holds its output open; ignored" in result.output
    # It left the process group, so run_command could not kill it: the test does.
    assert not is_gone(escaped)
    os.kill(escaped, signal.SIGKILL)
    assert wait_gone(escaped)


# --- output cap ---


def test_huge_output_is_capped_to_head_and_tail_with_the_omitted_count(tmp_path):
    total, limit = 50_000_000, 20_000
    start = time.monotonic()
    result = run_command(f"yes | head -c {total}", tmp_path, max_output=limit, timeout=60)
    elapsed = time.monotonic() - start

    assert result.exit_code == 0
    assert elapsed < 20
    assert result.truncated_chars == total - limit
    assert f"[{total - limit} bytes of output omitted]" in result.output
    assert limit <= len(result.output) <= limit + 100
    head, _, tail = result.output.partition("\n... [")
    assert head.startswith("y\ny\n")
    assert tail.endswith("y\ny\n")


def test_output_at_the_limit_is_not_truncated(tmp_path):
    result = run_command("head -c 1000 /dev/zero | tr '\\0' x", tmp_path, max_output=1000)
    assert result.truncated_chars == 0
    assert result.output == "x" * 1000


def test_the_seccomp_filter_is_built_for_both_architectures():
    import struct

    from locoder.sandbox import seccomp

    for machine in ("x86_64", "aarch64"):
        closed = seccomp.filter_bytes(machine=machine)
        opened = seccomp.filter_bytes(machine=machine, unix_sockets=True)
        assert len(closed) % 8 == 0 and len(opened) < len(closed)  # the AF_UNIX test is the difference
        ops = [struct.unpack("=HBBI", closed[i:i + 8]) for i in range(0, len(closed), 8)]
        audit_arch, socket_nr, _ = seccomp.ARCHES[machine]
        assert (0x15, 1, 0, audit_arch) in ops and any(op[3] == socket_nr for op in ops)
        assert ops[-1] == (0x06, 0, 0, 0x7FFF0000)  # everything else is allowed
        for nr in (425, 426, 427):
            assert any(op[0] == 0x15 and op[3] == nr for op in struct.iter_unpack("=HBBI", opened))
    with pytest.raises(ValueError, match="x86-64 and aarch64"):
        seccomp.filter_bytes(machine="riscv64")


def test_the_disk_watch_counts_growth_once_per_inode(tmp_path):
    from locoder.sandbox.watch import disk_usage

    (tmp_path / "a.bin").write_bytes(bytes(1 << 20))
    before = disk_usage([tmp_path])
    (tmp_path / "hard.bin").hardlink_to(tmp_path / "a.bin")
    (tmp_path / "link").symlink_to("/usr")
    assert disk_usage([tmp_path]) - before < 64 * 1024
