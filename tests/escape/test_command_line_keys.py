"""A key given on locoder's command line (``--context7-api-key``) cannot be read from /proc/*/cmdline by a
model-run command, even under Landlock without a pid namespace (where other processes stay visible)."""

import subprocess
import sys
from pathlib import Path

import pytest

from escape.world import run
from locoder.safety.cmdline import secret_flag_values
from locoder.sandbox import runners

KEY = "ctx7-CANARY-9f00d"
# A stand-in for the locoder process: it starts the way locoder's CLI does, then stays alive.
HOLDER = ("import sys, time\nfrom locoder.safety.cmdline import blank_secret_flags\n"
          "blank_secret_flags(sys.argv)\nprint('ready', flush=True)\ntime.sleep(30)\n")


@pytest.fixture(params=["namespaces", "no namespaces"])
def holder(request, monkeypatch):
    if request.param == "no namespaces":
        monkeypatch.setattr(runners, "NAMESPACES", False)
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, "--context7-api-key", KEY, f"--api-key={KEY}2"],
                            stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_keys_given_as_flags_are_not_in_any_command_line(world, holder):
    own = Path(f"/proc/{holder.pid}/cmdline").read_bytes()
    assert KEY.encode() not in own and b"--context7-api-key" in own
    out = run(world, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; ps -eo args")
    assert KEY not in out


def test_the_flag_values_are_found_in_both_spellings():
    assert secret_flag_values(["locoder", "--context7-api-key", "a1", "--api-key=b2", "--model", "m"]) == ["a1", "b2"]


def test_the_cli_blanks_them_first():
    src = str(Path(__file__).resolve().parents[2] / "src")
    # The CLI's own entry point in a real process, stopped where it would parse its arguments: by then the
    # kernel's copy of its command line must hold no key.
    code = ("from locoder import cli\n"
            "def stop():\n    raise SystemExit(open('/proc/self/cmdline', 'rb').read().decode(errors='replace'))\n"
            "cli.build_parser = stop\ncli.main()\n")
    proc = subprocess.run([sys.executable, "-c", code, "--context7-api-key", KEY, "doctor"], capture_output=True,
                          text=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert "--context7-api-key" in proc.stderr and KEY not in proc.stderr, proc.stderr
