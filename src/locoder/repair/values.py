"""What a candidate function did on the failing input, for the repair request: its arguments, each executed
line that set a value with the values after it, and what it returned or raised (recorded by
``trace_plugin`` with ``LOCODER_TRACE_VALUES``). A small model that cannot run the code in its head sees
where a value goes wrong (``carry = -1``, then ``newyear = 2009`` where the test expects 2007)."""

from __future__ import annotations

from locoder.repair.localise import Definition

MAX_CALLS = 2
HEAD, TAIL = 14, 6
"""Lines shown per call: the first ones and the last ones (a loop's later rounds matter as much)."""
MAX_CODE = 60


def trace_spec(target: Definition) -> str:
    """The value of ``LOCODER_TRACE_VALUES`` that records calls of ``target``."""
    return f"{target.path}:{target.start}:{target.def_line}:{target.end}"


def _code(target: Definition, line: int) -> str:
    lines = target.source.splitlines()
    text = lines[line - target.start].strip() if 0 <= line - target.start < len(lines) else ""
    return text if len(text) <= MAX_CODE else text[:MAX_CODE - 3] + "..."


def _call_text(number: int, call: dict, target: Definition) -> list[str]:
    args = ", ".join(f"{name}={value}" for name, value in call.get("args") or [])
    out = [f"Call {number}: {target.name}({args})"]
    rows = []
    for line, changed in call.get("lines") or []:
        if not changed or not isinstance(line, int):
            continue
        values = ", ".join(f"{name} = {value}" for name, value in changed)
        rows.append(f"  line {line}: {_code(target, line)}  ->  {values}")
    if len(rows) > HEAD + TAIL:
        rows = rows[:HEAD] + [f"  ... ({len(rows) - HEAD - TAIL} more lines)"] + rows[-TAIL:]
    out += rows
    if call.get("raised"):
        out.append(f"  raised {call['raised']}")
    elif call.get("returned") is not None:
        out.append(f"  returned {call['returned']}")
    return out


def values_text(calls: list, target: Definition, test: str) -> str:
    """The calls as the request shows them, or "" when the test did not run the function."""
    calls = [c for c in calls if isinstance(c, dict)]
    if not calls:
        return ""
    lines = [f"What {target.qualname} did when the failing test {test} ran it (each line that set a value, with "
             f"the value after it):"]
    for number, call in enumerate(calls[:MAX_CALLS], 1):
        lines += _call_text(number, call, target)
    if len(calls) > MAX_CALLS:
        lines.append(f"({len(calls) - MAX_CALLS} more calls not shown)")
    return "\n".join(lines)
