"""The forms a repair can take, as pure functions: what the model is asked for, the JSON schema its reply is
decoded under (or none, for a fenced block), and how the reply becomes the file's new text.

- ``function``: the whole corrected function, as JSON ``{"thought", "code"}``;
- ``fenced``: the whole corrected function in a fenced code block (no constraint on the reply);
- ``search_replace``: one exact block of the function and its replacement, as JSON;
- ``diff``: a unified diff of the function, as JSON.

Every form ends in ``new_text``; a result that does not parse is refused (``tools.edit.syntax_error``).
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass

from locoder.exceptions import ToolError
from locoder.repair.localise import Definition, definitions
from locoder.tools.edit import apply_edit, syntax_error  # noqa: F401  (the check every form's result gets)

FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)(?:\n```|\Z)", re.S)


class RepairError(ValueError):
    """A reply that cannot be applied; the message goes back to the model."""


@dataclass(frozen=True)
class Form:
    name: str
    ask: str
    """What the model is asked to write (the end of the prompt)."""
    schema: dict | None


FORMS = {
    "function": Form("function", "Reply with JSON: {\"thought\": \"<what is wrong, in one sentence>\", "
                     "\"code\": \"<the whole corrected function, from its def line to its last line>\"}.",
                     {"type": "object", "properties": {"thought": {"type": "string"}, "code": {"type": "string"}},
                      "required": ["thought", "code"]}),
    "fenced": Form("fenced", "First say in one sentence what is wrong. Then write the whole corrected function, "
                   "from its def line to its last line, in one ```python code block.", None),
    "search_replace": Form("search_replace", "Reply with JSON: {\"thought\": \"<what is wrong>\", \"search\": "
                           "\"<the exact lines of the function to change>\", \"replace\": \"<the new lines>\"}.",
                           {"type": "object", "properties": {"thought": {"type": "string"},
                                                             "search": {"type": "string"},
                                                             "replace": {"type": "string"}},
                            "required": ["thought", "search", "replace"]}),
    "diff": Form("diff", "Reply with JSON: {\"thought\": \"<what is wrong>\", \"diff\": \"<a unified diff of the "
                 "function: @@ hunk header, then lines starting with space, - or +>\"}.",
                 {"type": "object", "properties": {"thought": {"type": "string"}, "diff": {"type": "string"}},
                  "required": ["thought", "diff"]}),
}


def _json(reply: str) -> dict:
    start, end = reply.find("{"), reply.rfind("}")
    try:
        data = json.loads(reply[start:end + 1]) if start >= 0 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RepairError("the reply was not the JSON object asked for")
    return data


def thought_of(reply: str) -> str:
    """What the model said is wrong: the JSON ``thought``, or the prose before the code block, cut to its first
    two sentences (without a closing "Here is the corrected function:")."""
    try:
        text = str(_json(reply).get("thought", ""))
    except RepairError:
        text = reply.split("```", 1)[0]
    sentences = [x for x in re.split(r"(?<=[.!?:])\s+", " ".join(text.split())) if x and not x.endswith(":")]
    return " ".join(sentences[:2])[:300]


def code_of(form: str, reply: str) -> str:
    """The function text a ``function`` or ``fenced`` reply holds."""
    if form == "function":
        code = _json(reply).get("code")
        if not isinstance(code, str) or not code.strip():
            raise RepairError("the reply has no code")
        blocks = FENCE.findall(code)
        return blocks[0] if blocks else code
    blocks = FENCE.findall(reply)
    if not blocks:
        raise RepairError("the reply has no ```python code block")
    return max(blocks, key=len)


SHORTENED = "(docstring shortened)"
"""What the harness writes in place of a long docstring it leaves out of the model's view."""
LONG_DOCSTRING = 8
"""Docstrings of more lines than this are shown shortened: the model rewrites the code, not the prose (and
writes a third of the tokens)."""


def _function_node(code: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _docstring_span(code: str, name: str) -> tuple[int, int] | None:
    """The 1-based first and last line of the function's docstring within ``code``."""
    node = _function_node(code, name)
    if node is None or not node.body:
        return None
    first = node.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first.lineno, first.end_lineno or first.lineno
    return None


def _long_docstring(target: Definition) -> tuple[int, int] | None:
    span = _docstring_span(target.source, target.name)
    return span if span is not None and span[1] - span[0] + 1 > LONG_DOCSTRING else None


def shown_source(target: Definition) -> str:
    """The function as the model sees it: whole, except that a docstring longer than ``LONG_DOCSTRING`` lines
    becomes its first line and a marker (``restore_docstring`` puts the original back)."""
    span = _long_docstring(target)
    if span is None:
        return target.source
    lines = target.source.splitlines()
    doc = ast.get_docstring(_function_node(target.source, target.name)) or ""
    summary = next((x.strip() for x in doc.splitlines() if x.strip()), "")
    summary = summary.replace('"', "'").replace("\\", "")
    indent = _indent_of(lines[span[0] - 1])
    examples = _examples(lines[span[0] - 1:span[1]])
    if not examples:
        return "\n".join(lines[: span[0] - 1] + [f'{indent}"""{summary} {SHORTENED}"""'] + lines[span[1]:])
    shown = [f'{indent}"""{summary} {SHORTENED}', "", *examples, f'{indent}"""']
    return "\n".join(lines[: span[0] - 1] + shown + lines[span[1]:])


QUOTES = ('"""', "'''")


def _examples(doc: list[str]) -> list[str]:
    """The ``>>>`` examples of a docstring with the output lines after each (they are the spec)."""
    out: list[str] = []
    taking = False
    for line in doc:
        stripped = line.strip()
        if stripped.startswith((">>>", "...")):
            taking = True
        elif not stripped or stripped.startswith(QUOTES) or stripped.endswith(QUOTES):
            taking = False
        if taking:
            out.append(line.rstrip())
    return out


def _body_start(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The 0-based index of the first line after the def's signature (its ``:``)."""
    ends = [node.lineno] + [getattr(n, "end_lineno", 0) or 0 for n in ast.walk(node.args)]
    if node.returns is not None:
        ends.append(node.returns.end_lineno or node.lineno)
    at = max(ends) - 1
    while at < len(lines) - 1 and not lines[at].split("#", 1)[0].rstrip().endswith(":"):
        at += 1
    return at + 1


def restore_docstring(code: str, target: Definition) -> str:
    """``code`` (the model's function) with the original docstring where it shows the shortened one, or where
    it has none although the original has a long one; a docstring the model wrote itself is kept."""
    original = _long_docstring(target)
    node = _function_node(code, target.name)
    if original is None or node is None or not node.body:
        return code
    lines = textwrap.dedent(code.strip("\n")).splitlines()
    span = _docstring_span(code, target.name)
    if span is not None:
        if SHORTENED not in "\n".join(lines[span[0] - 1:span[1]]):
            return code
        at, drop = span[0] - 1, span[1]
    else:
        at = drop = min(_body_start(lines, node), node.body[0].lineno - 1)
    doc_lines = textwrap.dedent(target.source).splitlines()[original[0] - 1:original[1]]
    old, new = _indent_of(doc_lines[0]), _indent_of(lines[node.body[0].lineno - 1])
    moved = [new + x[len(old):] if x.startswith(old) else x for x in doc_lines]
    return "\n".join(lines[:at] + moved + lines[drop:])


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def replace_definition(text: str, target: Definition, code: str) -> str:
    """``text`` with ``target`` replaced by ``code`` (a whole function), re-indented to where it stands.
    Decorators the new code leaves out are kept."""
    code = textwrap.dedent(code.strip("\n")).rstrip()
    new_defs = [d for d in definitions("new.py", code + "\n") if d.name == target.name]
    if not new_defs:
        try:
            ast.parse(code)
        except SyntaxError as exc:
            raise RepairError(f"the code does not parse: {exc.msg} (line {exc.lineno})") from None
        raise RepairError(f"the code must be the whole function {target.name}, starting with its def line")
    lines = text.splitlines(keepends=True)
    start = target.start
    if not code.lstrip().startswith("@"):
        start = target.def_line
    indent = _indent_of(lines[target.def_line - 1])
    body = "".join(indent + line if line.strip() else line
                   for line in (code + "\n").splitlines(keepends=True))
    return "".join(lines[: start - 1]) + body + "".join(lines[target.end:])


def apply_diff(region: str, diff: str) -> str:
    """Apply the hunks of a unified diff to ``region``, matching their old lines exactly or, failing that,
    ignoring whitespace (``apply_edit``)."""
    out = region
    hunks = re.split(r"^@@[^\n]*@@[^\n]*\n?", diff, flags=re.M)
    applied = 0
    for hunk in hunks:
        old, new = [], []
        for line in hunk.splitlines():
            if line.startswith(("---", "+++")):
                continue
            tag, rest = (line[:1], line[1:]) if line[:1] in (" ", "-", "+") else (" ", line)
            if tag in (" ", "-"):
                old.append(rest)
            if tag in (" ", "+"):
                new.append(rest)
        if not old or old == new:
            continue
        try:
            out = apply_edit(out, "\n".join(old) + "\n", "\n".join(new) + "\n")
        except ToolError as exc:
            raise RepairError(f"a hunk does not apply: {exc}") from None
        applied += 1
    if not applied:
        raise RepairError("the diff changes nothing")
    return out


def new_text(form: str, reply: str, text: str, target: Definition) -> str:
    """The file's text after the reply's repair of ``target``."""
    if form in ("function", "fenced"):
        return replace_definition(text, target, restore_docstring(code_of(form, reply), target))
    data = _json(reply)
    lines = text.splitlines(keepends=True)
    region = "".join(lines[target.start - 1:target.end])
    if form == "search_replace":
        search, replace = data.get("search"), data.get("replace")
        if not isinstance(search, str) or not isinstance(replace, str):
            raise RepairError("the reply needs search and replace strings")
        try:
            changed = apply_edit(region, search, replace)
        except ToolError as exc:
            raise RepairError(str(exc)) from None
    elif form == "diff":
        diff = data.get("diff")
        if not isinstance(diff, str):
            raise RepairError("the reply needs a diff string")
        changed = apply_diff(region, diff)
    else:
        raise ValueError(f"unknown repair form {form!r}")
    if not changed.endswith("\n") and region.endswith("\n"):
        changed += "\n"
    return "".join(lines[: target.start - 1]) + changed + "".join(lines[target.end:])
