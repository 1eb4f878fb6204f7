"""The slash commands of the interactive session print what the matching ``locoder`` subcommands print: the
real session in a pseudo-terminal against a twin repository worked on by subprocesses, command by command."""

import os
import re
import shutil
import subprocess
import sys

import pexpect
import pytest

# Each slash line and the subcommand that must print the same, in the order both repositories see them
# (the index is built by the first command that needs it, in each).
PAIRS = [
    ("/grep return a", ["grep", "return a"]),
    ("/tree", ["tree"]),
    ("/codectx calc.py", ["codectx", "calc.py"]),
    ("/index", ["index"]),
    ("/esearch add two numbers", ["esearch", "--q", "add two numbers"]),
    ("/memory list", ["memory", "list"]),
    ("/memory search how are tests run", ["memory", "search", "how are tests run"]),
    ("/rl status", ["rl", "status"]),
    ("/ctx app.log", ["ctx", "app.log"]),
    ("/ls", ["ls"]),
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
PROGRESS = re.compile(r"(-:--:--|\d+:\d\d:\d\d)\s*$")  # a transient progress bar's last column
# What differs between two runs: the index's timing, the minute a memory was saved.
VARYING = [(re.compile(r" in \d+\.\d\ds$"), " in N.NNs"), (re.compile(r"^(#\d+\s+)\d{4}-\d\d-\d\dT\d\d:\d\d"), r"\1TIME")]
LOG = "2026-11-21 10:00:01 ERROR payment failed\nTraceback (most recent call last):\n" \
      '  File "pay.py", line 3, in charge\nValueError: card declined\n2026-11-21 10:00:02 WARNING retrying\n'


def normal(lines):
    out = []
    for line in lines:
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        if line.strip():
            out.append(line.rstrip())
    return out


def screen(raw: str) -> list[str]:
    """What stays on the terminal: escapes dropped, each line as its last carriage return left it, the
    transient progress bars gone."""
    lines = []
    for line in ANSI.sub("", raw).replace("\r\n", "\n").split("\n"):
        parts = [p for p in line.split("\r") if p]
        if parts and not PROGRESS.search(parts[-1]):
            lines.append(parts[-1])
    return normal(lines)


@pytest.fixture
def twins(tmp_path, repo, isolated_env):
    (repo / "app.log").write_text(LOG)
    twin = tmp_path / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    env = {**os.environ, "HOME": str(isolated_env), "XDG_CONFIG_HOME": str(isolated_env / ".config"),
           "COLUMNS": "120", "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    for folder in (repo, twin):
        locoder(["--remember", "tests run with make test", "-w", str(folder)], env)
    return repo, twin, env


def locoder(args, env):
    out = subprocess.run([sys.executable, "-m", "locoder", *args], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_slash_commands_print_what_the_subcommands_print(tmp_path, twins):
    repo, twin, env = twins
    replies = tmp_path / "replies.json"
    replies.write_text("[]")
    child = pexpect.spawn(sys.executable, ["-m", "locoder", "-w", str(repo), "-m", f"scripted:{replies}"], env=env,
                          encoding="utf-8", timeout=120, dimensions=(40, 120))
    try:
        # prompt_toolkit turns bracketed paste on when it shows the prompt and off when a line is entered:
        # what comes between "off" and the next "on" is the command's output.
        child.expect_exact("\x1b[?2004h")

        def slash(line: str) -> str:
            child.sendline(line)
            child.expect_exact("\x1b[?2004l")
            child.expect_exact("\x1b[?2004h")
            return child.before

        shown = screen(slash("/help"))
        for use, tool in [("/esearch QUERY", "search_code"), ("/codectx PATH", "code_outline"), ("/grep REGEX", "grep"),
                          ("/ctx", "context"), ("/plan", "plan"), ("/intel QUESTION", "intel"), ("/tree", "tree"),
                          ("/ls", "list_files"), ("/vretr QUERY", "vretr"), ("/index", "index"),
                          ("/emb-index", "emb_index"), ("/memory", "remember, recall")]:
            assert any(line.lstrip().startswith(use) and f"[tool: {tool}]" in line for line in shown), (use, shown)
        assert any(line.lstrip().startswith("/rl status") for line in shown)
        assert shown[-1].strip() == "Ctrl-C cancels the current step; Ctrl-D (or /exit) leaves."
        for line, args in PAIRS:
            expected = normal(locoder([*args, "-w", str(twin)], env).splitlines())
            assert expected, args
            assert screen(slash(line)) == expected, line
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
