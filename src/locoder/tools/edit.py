"""Search/replace edits as pure functions: find one exact block, or, failing that, the same lines
with different whitespace; refuse when the block is missing or not unique."""

from __future__ import annotations

import ast
import difflib

from locoder.exceptions import ToolError


def apply_edit(text: str, search: str, replace: str) -> str:
    """Return ``text`` with the one occurrence of ``search`` replaced by ``replace``."""
    if not search:
        raise ToolError("the search block is empty; give the exact lines to replace")
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise ToolError(
            f"the search block occurs {count} times; include more surrounding lines to make it unique"
        )
    return _apply_loose(text, search, replace)


def _apply_loose(text: str, search: str, replace: str) -> str:
    lines = text.splitlines(keepends=True)
    wanted = search.splitlines()
    while wanted and not wanted[-1].strip():
        wanted.pop()
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    if not wanted:
        raise ToolError("the search block is only whitespace")
    for normalise in (str.rstrip, str.strip):
        target = [normalise(s) for s in wanted]
        hits = [
            i
            for i in range(len(lines) - len(target) + 1)
            if [normalise(line) for line in lines[i : i + len(target)]] == target
        ]
        if len(hits) > 1:
            raise ToolError(
                f"the search block matches {len(hits)} places (ignoring whitespace); include more lines"
            )
        if hits:
            i = hits[0]
            new = _reindent(replace, wanted[0], lines[i])
            if new and not new.endswith("\n") and lines[i + len(target) - 1].endswith("\n"):
                new += "\n"
            return "".join(lines[:i]) + new + "".join(lines[i + len(target) :])
    raise ToolError("the search block was not found in the file" + _closest_hint(lines, wanted))


def _reindent(replace: str, searched_first: str, actual_first: str) -> str:
    """Shift ``replace`` by the indentation difference between what the model wrote and the file."""
    want = len(searched_first) - len(searched_first.lstrip())
    have = len(actual_first) - len(actual_first.lstrip())
    if want == have:
        return replace
    out = []
    for line in replace.splitlines(keepends=True):
        if not line.strip():
            out.append(line)
        elif have > want:
            out.append(" " * (have - want) + line)
        else:
            cut = min(want - have, len(line) - len(line.lstrip()))
            out.append(line[cut:])
    return "".join(out)


def _closest_hint(lines: list[str], wanted: list[str]) -> str:
    first = wanted[0].strip()
    match = difflib.get_close_matches(first, [line.strip() for line in lines], n=1, cutoff=0.6)
    if not match:
        return "; read the file first and copy the lines exactly"
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == match[0])
    return f"; the closest line is {number}: {match[0]!r}. Read the file and copy the lines exactly"


def unified_diff(before: str, after: str, name: str, max_lines: int = 60) -> str:
    diff = list(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )
    if len(diff) > max_lines:
        diff = diff[:max_lines] + [f"... [{len(diff) - max_lines} more diff lines]\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in diff)


def syntax_error(path: str, text: str) -> str | None:
    """The parser's message when ``text`` (the new content of ``path``) does not parse; None when it does or
    when there is no parser for the language. Python is checked with ``ast``, JavaScript, TypeScript, Go,
    Rust and Java with tree-sitter."""
    if path.endswith((".py", ".pyi")):
        try:
            ast.parse(text, filename=path)
        except SyntaxError as exc:
            where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
            shown = (exc.text or "").strip()
            return f"{exc.msg} ({where})" + (f": {shown}" if shown else "")
        except ValueError as exc:
            return str(exc)
        return None
    from locoder.index.chunks import parse_errors

    lines = parse_errors(path, text.encode("utf-8", "surrogateescape"))
    if not lines:
        return None
    return "syntax error at line" + ("s " if len(lines) > 1 else " ") + ", ".join(map(str, lines[:5]))


def refuse_broken(path: str, before: str | None, after: str) -> None:
    """Refuse a change that leaves ``path`` unparseable when it parsed before (or is new)."""
    error = syntax_error(path, after)
    if error is None or (before is not None and syntax_error(path, before) is not None):
        return
    raise ToolError(f"not saved: the change would leave {path} with a syntax error: {error}. "
                    "The file is unchanged; fix the code (indentation, brackets, quotes) and try again")
