"""The repair harness's requests to the model, as pure functions of the evidence: each asks for one local
step (a corrected function, or a test that reproduces a report), never for a plan."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from locoder.repair.failures import Failure, is_test_path
from locoder.repair.forms import FORMS, shown_source
from locoder.repair.localise import Definition

REPAIR_SYSTEM = (
    "You fix and complete Python code. You are shown what the user asked or reported, the evidence (failing "
    "tests, the output of their example), and the one function the evidence points to. Find what is wrong or "
    "missing in that function and write it corrected. Change only what is needed; keep its name, signature, "
    "docstring and style. Never change a test to make it pass.")

REPRO_SYSTEM = (
    "You write pytest tests that reproduce bug reports. The test states what the user expects, so it fails "
    "while the bug is there and passes once it is fixed.")

MAX_TEST_LINES = 30
MAX_ERROR_LINES = 14


@dataclass
class Evidence:
    """What the harness found when it reproduced the report."""

    failures: list[Failure]
    example: str = ""
    """The user's example as they wrote it, when it was run."""
    example_output: str = ""


def test_source(root: Path, nodeid: str, limit: int = MAX_TEST_LINES) -> str:
    """The source of the test function a test id names (cut to ``limit`` lines), or ""."""
    parts = nodeid.split("::")
    if len(parts) < 2:
        return ""
    try:
        text = (root / parts[0]).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    wanted = re.sub(r"\[.*$", "", parts[-1])
    lines = text.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == wanted:
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            body = lines[start - 1:node.end_lineno]
            shown = body[:limit] + ([f"    ... ({len(body) - limit} more lines)"] if len(body) > limit else [])
            return "\n".join(_dedent(shown))
    return ""


def _dedent(lines: list[str]) -> list[str]:
    indents = [len(x) - len(x.lstrip()) for x in lines if x.strip()]
    cut = min(indents) if indents else 0
    return [x[cut:] for x in lines]


def failure_text(failure: Failure, root: Path) -> str:
    """One failing test for the model: its code, the error lines and where in the project it happened."""
    parts = [f"Failing test {failure.nodeid}:"]
    source = test_source(root, failure.nodeid)
    if source:
        parts.append(f"```python\n{source}\n```")
    errors = failure.error_lines[:MAX_ERROR_LINES] or [failure.summary]
    parts.append("It fails with:\n" + "\n".join(errors))
    own = [f for f in failure.frames if not is_test_path(f.path)]
    if own:
        parts.append("Raised in: " + " -> ".join(f"{f.path}:{f.line} {f.function}".strip() for f in own[-3:]))
    return "\n".join(parts)


def evidence_text(evidence: Evidence, root: Path, max_failures: int = 2) -> str:
    parts = [failure_text(f, root) for f in evidence.failures[:max_failures]]
    if len(evidence.failures) > max_failures:
        parts.append(f"({len(evidence.failures) - max_failures} more tests fail: "
                     + ", ".join(f.nodeid for f in evidence.failures[max_failures:max_failures + 5]) + ")")
    if evidence.example:
        output = "\n".join(evidence.example_output.strip().splitlines()[-20:]) or "(nothing)"
        parts.append(f"Running the user's example:\n```python\n{evidence.example.strip()}\n```\nprints:\n{output}")
    return "\n\n".join(parts)


def shown(target: Definition, form: str) -> str:
    """The function as the request shows it: a long docstring shortened where the form writes the whole
    function (the harness puts it back), whole where the model edits lines it must quote exactly."""
    return shown_source(target) if form in ("function", "fenced") else target.source


def repair_request(task: str, evidence: Evidence, target: Definition, root: Path, form: str,
                   values: str = "") -> str:
    cls = target.qualname.rsplit(".", 1)[0] if "." in target.qualname else ""
    where = f"{target.path} lines {target.start}-{target.end}" + (f", a method of class {cls}" if cls else "")
    return "\n\n".join([
        f"The user's request:\n{task.strip()}",
        evidence_text(evidence, root),
        f"The function to change, in {where}:\n```python\n{shown(target, form)}\n```",
        *([values] if values else []),
        FORMS[form].ask,
    ])


def retry_request(problem: str, current: Definition, form: str) -> str:
    """The follow-up turn when a repair was refused or the tests still fail."""
    return "\n\n".join([
        problem.strip(),
        f"The function is now:\n```python\n{shown(current, form)}\n```",
        "Think again about what the tests expect. " + FORMS[form].ask,
    ])


REPRO_SCHEMA = {"type": "object", "properties": {"thought": {"type": "string"}, "code": {"type": "string"}},
                "required": ["thought", "code"]}


def repro_request(task: str, evidence: Evidence) -> str:
    parts = [f"The user's report:\n{task.strip()}"]
    if evidence.example:
        output = "\n".join(evidence.example_output.strip().splitlines()[-20:]) or "(nothing)"
        parts.append(f"Their example, run now, prints:\n{output}")
    parts.append("Write a pytest test file with one test function that checks what the user EXPECTS (use assert, "
                 "or pytest.raises for an exception they expect). It must fail now and pass once the bug is fixed. "
                 "Import what the example imports. Reply with JSON: {\"thought\": \"<what the user expects>\", "
                 "\"code\": \"<the whole test file>\"}.")
    return "\n\n".join(parts)
