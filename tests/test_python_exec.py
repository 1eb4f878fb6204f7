import subprocess
from pathlib import Path

import pytest

from locoder.exceptions import ToolError
from locoder.messages import ToolCall
from locoder.sandbox import CommandResult, run_command
from locoder.tools import ToolBox, ToolContext
from locoder.tools.extra import extra_tools
from locoder.tools.python_exec import check_python


@pytest.fixture
def box(repo: Path) -> ToolBox:
    return ToolBox(extra_tools(), ToolContext(workspace=repo, command_timeout=20))


def run_python(box: ToolBox, code: str, **args):
    return box.execute(ToolCall("run_python", {"code": code, **args}))


# --- refusals: (code, what the message must name) ---

REFUSED = [
    ("import os", "imports os: run_python may not touch the system; use run_command"),
    ("from os import system\nsystem('ls')", "imports os"),
    ("import os.path", "imports os"),
    ("import sys", "imports sys"),
    ("import subprocess", "imports subprocess"),
    ("from subprocess import run as r", "imports subprocess"),
    ("import ctypes", "imports ctypes"),
    ("import socket", "imports socket"),
    ("import shutil", "imports shutil"),
    ("import pty", "imports pty"),
    ("import signal", "imports signal"),
    ("import multiprocessing.pool", "imports multiprocessing"),
    ("import posix", "imports posix"),
    ("import _posixsubprocess", "imports _posixsubprocess"),
    ("import pickle", "imports pickle: loading its data can run arbitrary code"),
    ("import marshal", "imports marshal"),
    ("import builtins", "imports builtins"),
    ("import code", "imports code"),
    ("import codeop", "imports codeop"),
    ("import runpy", "imports runpy"),
    ("import importlib\nimportlib.import_module('os')", "imports importlib"),
    ("from importlib import util", "imports importlib"),
    ("from urllib import request", "imports urllib.request"),
    ("from asyncio import subprocess", "imports asyncio.subprocess"),
    ("from pathlib import os", "imports os"),
    ("import json, os as o", "imports os"),
    ("def f():\n    import os\n", "line 2: imports os"),
    ("__import__('os')", "calls __import__"),
    ("exec('import os')", "calls exec"),
    ("eval('1 + 1')", "calls eval"),
    ("e = eval\ne('1')", "uses eval"),
    ("compile('x', 'f', 'exec')", "calls compile"),
    ("getattr(__builtins__, '__import__')", "uses __builtins__"),
    ("getattr(str, '__subclasses__')", "calls getattr() with '__subclasses__'"),
    ("setattr(object, '__init__', None)", "calls setattr() with '__init__'"),
    ("().__class__.__bases__[0].__subclasses__()", "uses .__class__"),
    ("object.__subclasses__()", "uses .__subclasses__"),
    ("[].__class__.__mro__", "uses .__mro__"),
    ("(lambda: 0).__code__", "uses .__code__"),
    ("def f(): pass\nf.__globals__['x']", "line 2: uses .__globals__"),
    ("print.__self__", "uses .__self__"),
    ("class A: pass\nA().__dict__", "uses .__dict__"),
    ("globals()['__builtins__']", "calls globals"),
    ("locals()", "calls locals"),
    ("vars()", "calls vars"),
    ("breakpoint()", "calls breakpoint"),
    ("name = input('name? ')", "calls input()"),
    ("open('x', 'w').write('y')", "opens a file with mode 'w': run_python only reads files"),
    ("open('x', mode='a')", "mode 'a'"),
    ("open('x', 'r+')", "mode 'r+'"),
    ("open('x', 'xb')", "mode 'xb'"),
    ("from pathlib import Path\nPath('x').open('w')", "line 2: opens a file with mode 'w'"),
    ("import pathlib\npathlib.os.system('ls')", "uses .os, the os module"),
    ("import asyncio\nasyncio.create_subprocess_shell('ls')", "uses .create_subprocess_shell"),
    ("def f(): yield\nf().gi_frame.f_globals", "uses .gi_frame"),
    ("__loader__.load_module('os')", "uses __loader__"),
]


@pytest.mark.parametrize(("code", "message"), REFUSED, ids=[c for c, _ in REFUSED])
def test_check_python_refuses(code, message):
    with pytest.raises(ToolError, match="run_python refused this code") as info:
        check_python(code)
    assert message in str(info.value)


def test_a_refusal_names_the_line_and_every_problem():
    with pytest.raises(ToolError) as info:
        check_python("x = 1\nimport os\nprint(eval('x'))\n")
    assert str(info.value).splitlines()[1:] == [
        "line 2: imports os: run_python may not touch the system; use run_command for shell work",
        "line 3: calls eval: run_python runs the code it is shown, not code loaded or built at run time; "
        "write the code out",
    ]


def test_refused_code_is_not_run(box, repo):
    result = run_python(box, "import os\nos.mkdir('made')")
    assert not result.ok and "imports os" in result.output
    assert not (repo / "made").exists()


ALLOWED = [
    "import math\nprint(math.sqrt(16))",
    "import json, re, itertools, collections, dataclasses, threading, pathlib, typing",
    "from scipy import signal",  # a name shared with a refused module is not that module
    "try:\n    pass\nexcept OSError as err:\n    print(err.errno, err.code if hasattr(err, 'code') else 0)",
    "print(open('calc.py').read())",
    "print(open('calc.py', 'rb').read())",
    "input_ = 1\nprint(getattr(str, '__name__'))",
    "class A:\n    def __init__(self):\n        super().__init__()\n    def __repr__(self):\n        return 'A'",
]


@pytest.mark.parametrize("code", ALLOWED)
def test_check_python_allows(code):
    check_python(code)


# --- running ---

@pytest.mark.parametrize(("code", "expected"), [
    ("import math\nprint(math.factorial(10), round(math.pi, 3))", "3628800 3.142"),
    ("import json\nprint(json.dumps({'b': 1, 'a': [1, 2]}, sort_keys=True))", '{"a": [1, 2], "b": 1}'),
    ("import re\nprint(re.findall(r'\\d+', 'a1b22c333'))", "['1', '22', '333']"),
    ("import itertools\nprint(list(itertools.combinations('abc', 2)))",
     "[('a', 'b'), ('a', 'c'), ('b', 'c')]"),
    ("with open('calc.py') as f:\n    print(sum(1 for line in f if line.startswith('def ')))", "2"),
    ("from pathlib import Path\nprint(Path('calc.py').read_text().splitlines()[0])", "def add(a, b):"),
    ("class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
     "    def __repr__(self):\n        return f'Point({self.x}, {self.y})'\n\n"
     "def mid(a, b):\n    return Point((a.x + b.x) / 2, (a.y + b.y) / 2)\n\n"
     "print(mid(Point(0, 0), Point(2, 4)))", "Point(1.0, 2.0)"),
    ("name, n = 'world', 3\nprint(f'hello {name}! {n * 2:03d}')", "hello world! 006"),
    ("from calc import add, scale\nprint(add(2, 3), scale(4))", "5 12"),  # the workspace is importable
    ("if __name__ == '__main__':\n    print('main')", "main"),
])
def test_allowed_code_runs_and_prints(box, code, expected):
    result = run_python(box, code)
    assert result.ok, result.output
    assert result.output == f"[exit code 0]\n{expected}"


def test_errors_show_the_snippet_traceback_and_exit_code(box):
    result = run_python(box, "x = 1\nraise ValueError(f'bad {x}')\n")
    assert result.ok  # the tool worked; the snippet failed
    lines = result.output.splitlines()
    assert lines[0] == "[exit code 1]" and lines[-1] == "ValueError: bad 1"
    assert "line 2, in <module>" in result.output and '"<string>"' not in result.output


def test_no_output(box):
    assert run_python(box, "x = 1").output == "[exit code 0]\n(no output)"


def test_timeout_kills_the_snippet(box):
    result = run_python(box, "while True:\n    pass", timeout=1)
    assert result.output.startswith("[timed out]") and "killed" in result.output
    assert result.seconds < 10


def test_timeout_is_capped_by_the_settings(repo):
    box = ToolBox(extra_tools(), ToolContext(workspace=repo, command_timeout=1))
    result = run_python(box, "import time\ntime.sleep(30)", timeout=60)
    assert result.output.startswith("[timed out]") and result.seconds < 10


def test_output_is_capped(repo):
    box = ToolBox(extra_tools(), ToolContext(workspace=repo, command_output_chars=1000))
    result = run_python(box, "print('x' * 100000)")
    assert len(result.output) < 1200 and "omitted" in result.output


def test_syntax_error_names_the_line(box):
    result = run_python(box, "x = 1\ndef f(:\n    pass\n")
    assert not result.ok
    assert result.output.startswith("Error: syntax error on line 2") and "def f(:" in result.output


def test_snippet_file_is_removed_and_git_sees_nothing(box, repo):
    run_python(box, "print(1)")
    assert list((repo / ".locoder" / "tmp").iterdir()) == []
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status == ""


def test_snippet_runs_isolated_from_python_variables(repo):
    env = {"PATH": "/usr/bin:/bin", "PYTHONSTARTUP": str(repo / "calc.py"), "PYTHONINSPECT": "1"}
    box = ToolBox(extra_tools(), ToolContext(workspace=repo, command_timeout=20, env=env))
    assert run_python(box, "print('ran')").output == "[exit code 0]\nran"


class RecordingSandbox:
    """Stands in for the context's sandbox: records what the tool asks it to run, then runs it unconfined."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.calls: list[tuple[str, float, int]] = []

    def run(self, command: str, *, timeout: float, max_output: int) -> CommandResult:
        self.calls.append((command, timeout, max_output))
        return run_command(command, self.workspace, timeout=timeout, max_output=max_output)


def test_runs_through_the_context_sandbox_when_there_is_one(repo):
    ctx = ToolContext(workspace=repo, command_timeout=7, command_output_chars=5000)
    ctx.sandbox = sandbox = RecordingSandbox(repo)  # type: ignore[attr-defined]
    result = ToolBox(extra_tools(), ctx).execute(ToolCall("run_python", {"code": "print(6 * 7)"}))
    assert result.output == "[exit code 0]\n42"
    ((command, timeout, max_output),) = sandbox.calls
    assert " -I -c " in command and ".locoder/tmp/snippet-" in command
    assert (timeout, max_output) == (7, 5000)
