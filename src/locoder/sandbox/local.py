"""Run a shell command in its own process group, with a timeout and bounded output.

Failures come back as results, never exceptions. On timeout, on Ctrl-C, and after the command
exits, the whole process group is killed, so nothing the command started outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from locoder.sandbox.watch import DiskWatch


@dataclass
class CommandResult:
    output: str
    exit_code: int | None
    timed_out: bool = False
    truncated_chars: int = 0
    seconds: float = 0.0
    stopped: str = ""
    """Why the sandbox stopped the command before it ended (e.g. the disk cap); empty when it did not."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.stopped

    @property
    def status(self) -> str:
        """How the command ended, as the model is shown it: ``exit code 0``, ``timed out``, or the signal
        that killed it in the shell's convention (``exit code 153 (killed by SIGXFSZ)``)."""
        if self.timed_out:
            return "timed out"
        if self.stopped:
            return "stopped by the sandbox"
        if self.exit_code is not None and self.exit_code < 0:
            try:
                name = signal.Signals(-self.exit_code).name
            except ValueError:
                name = f"signal {-self.exit_code}"
            return f"exit code {128 - self.exit_code} (killed by {name})"
        return f"exit code {self.exit_code}"


class _CappedBuffer:
    """Keeps the first and last ``limit/2`` bytes of a stream and counts what it dropped."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.half:
                self.dropped += len(self.tail) - self.half
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return f"{head}\n... [{self.dropped} bytes of output omitted] ...\n{tail}"
        return head + tail


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End the command: with a grace period, SIGTERM to the process itself first (a supervisor such as the
    Landlock launcher then kills what the command left behind), then SIGKILL to its whole group."""
    try:
        if grace > 0 and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:  # a second Ctrl-C during the grace period still kills the group
        _kill_group(proc)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc`` to exit; True when ``timeout`` passed first. A pidfd wakes the moment the process
    exits (``Popen.wait`` with a timeout polls, adding up to 50 ms to every short command)."""
    import select

    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout)
            return False
        except subprocess.TimeoutExpired:
            return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        return True
    proc.wait()
    return False


def run_command(
    command: str,
    cwd: Path,
    *,
    timeout: float = 120.0,
    max_output: int = 20000,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run ``command`` with bash in ``cwd``, unconfined; stdout and stderr are merged."""
    return run_argv(["bash", "-c", command], cwd, timeout=timeout, max_output=max_output, env=env)


def run_argv(
    argv: list[str],
    cwd: Path,
    *,
    timeout: float = 120.0,
    max_output: int = 20000,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
    grace: float = 0.0,
    watch: DiskWatch | None = None,
) -> CommandResult:
    """Run ``argv`` in its own process group in ``cwd``; stdout and stderr are merged. ``pass_fds`` stay open
    in the command; ``grace``: seconds a SIGTERM gets before the group is killed; ``watch`` may stop it early."""
    start = time.monotonic()
    if watch is not None:
        watch.start()  # measured before the command starts; armed once it runs
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        if watch is not None:
            watch.stop()
        return CommandResult(output=f"could not start command: {exc}", exit_code=None)
    if watch is not None:
        watch.arm(lambda: _stop(proc, grace))
    buffer = _CappedBuffer(max_output)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()

    def pump() -> None:
        while chunk := os.read(fd, 65536):
            buffer.feed(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        timed_out = _wait(proc, timeout)
    finally:
        # Also reached on KeyboardInterrupt: the command's group never outlives the call.
        if watch is not None:
            watch.stop()
        _stop(proc, grace)
        proc.wait()
        reader.join(timeout=2)
    stopped = watch.reason if watch is not None else ""
    output = buffer.text()
    if reader.is_alive():
        # A process that left the group (setsid) still holds the pipe: stop listening to it.
        output += "\n[a process started by the command still holds its output open; ignored]"
    else:
        proc.stdout.close()
    if timed_out:
        output += f"\n[command timed out after {timeout:g}s and was killed]"
    if stopped:
        output += f"\n[{stopped}]"
    return CommandResult(
        output=output,
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        truncated_chars=buffer.dropped,
        seconds=time.monotonic() - start,
        stopped=stopped,
    )
