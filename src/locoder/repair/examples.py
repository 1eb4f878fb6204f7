"""Code examples in a task text, turned into scripts the harness can run to reproduce a report, and Python
tracebacks read back from their output."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from locoder.repair.failures import Frame

FENCED = re.compile(r"```[ \t]*(?:python|py|pycon|python3)?[ \t]*\n(.*?)\n?```", re.S | re.I)
PROMPT = re.compile(r"^\s*(>>>|\.\.\.)( |$)")
PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)', re.M)
EXCEPTION = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Warning|Exit|Interrupt)\w*)(?::\s*(.*))?$", re.M)
SHELL_START = re.compile(r"^\s*(\$ |pip |python3? -|pytest|cd |git )")


@dataclass
class Example:
    source: str
    """A script: the example's code, its ``>>>`` expressions printed as the REPL would."""
    shown: str
    """The example as the task wrote it."""


def _from_session(lines: list[str]) -> str:
    """A ``>>>`` session as a script: statements kept, bare expressions printed with ``repr``; output lines dropped."""
    statements: list[str] = []
    current: list[str] = []
    for line in lines:
        m = PROMPT.match(line)
        if m and m.group(1) == ">>>":
            if current:
                statements.append("\n".join(current))
            current = [line.split(">>>", 1)[1][1:] if ">>> " in line else ""]
        elif m:
            current.append(line.split("...", 1)[1][1:] if "... " in line else "")
    if current:
        statements.append("\n".join(current))
    out = []
    for stmt in statements:
        try:
            tree = ast.parse(stmt)
        except SyntaxError:
            out.append(stmt)
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            out.append(f"print(repr({stmt.strip()}))")
        else:
            out.append(stmt)
    return "\n".join(out)


def _script(block: str) -> str | None:
    lines = block.splitlines()
    if any(PROMPT.match(line) for line in lines):
        return _from_session(lines) or None
    if any(SHELL_START.match(line) for line in lines) or "Traceback (most recent call last)" in block:
        return None
    try:
        ast.parse(block)
    except SyntaxError:
        return None
    return block


def examples(task: str) -> list[Example]:
    """The runnable Python examples of a task text: fenced blocks, and ``>>>`` sessions outside them."""
    found: list[Example] = []
    for block in FENCED.findall(task):
        script = _script(block)
        if script and script.strip():
            found.append(Example(script, block))
    rest = FENCED.sub("", task)
    session = [line for line in rest.splitlines() if PROMPT.match(line)]
    if session:
        script = _from_session(session)
        if script.strip():
            found.append(Example(script, "\n".join(session)))
    return found


def traceback_frames(output: str) -> list[Frame]:
    """The frames of the last Python traceback in ``output``, outermost first."""
    start = output.rfind("Traceback (most recent call last)")
    if start < 0:
        return []
    return [Frame(m.group(1), int(m.group(2)), m.group(3)) for m in PY_FRAME.finditer(output[start:])]


def exception_line(output: str) -> str:
    """The last ``SomethingError: message`` line of ``output``, or ""."""
    matches = EXCEPTION.findall(output)
    if not matches:
        return ""
    name, message = matches[-1]
    return f"{name}: {message}" if message else name
