"""A pytest plugin that records which functions of the project each test runs (spectrum-based fault
localisation). It runs inside the project's own Python, confined like any command, so it imports nothing
from locoder and keeps to what Python 3.8 has.

    LOCODER_TRACE_OUT=FILE python -m pytest -p locoder_trace ...

writes ``{"tests": [passed, failed], "functions": {"path:line:name": [passed, failed]}}`` to FILE, the
paths relative to the folder pytest was started in.

With ``LOCODER_TRACE_VALUES=path:start:def_line:end`` (a function's file, relative to that folder, the line
of its first decorator, of its ``def`` and its last) it also records what that function did on each of its
first calls: its arguments, the values each executed line gave to its local variables (code nested in it
included), and what it returned or raised, as ``"calls": [...]``.
"""

import json
import os
import sys
import threading

_ROOT = os.path.realpath(os.getcwd()) + os.sep
_SKIP = (os.sep + "site-packages" + os.sep, os.sep + ".venv" + os.sep, os.sep + "venv" + os.sep)
_inside = {}
_current = set()
_counts = {}
_tests = [0, 0]
_failed = set()
_calls = []
MAX_CALLS, MAX_EVENTS, MAX_REPR = 4, 80, 120


def _target():
    """``path:start:def_line:end`` from the environment, the path made absolute; None when unset."""
    parts = os.environ.get("LOCODER_TRACE_VALUES", "").rsplit(":", 3)
    if len(parts) != 4 or not all(n.isdigit() for n in parts[1:]):
        return None
    return (os.path.realpath(os.path.join(_ROOT, parts[0])),) + tuple(int(n) for n in parts[1:])


_TARGET = _target()
_active = []
"""The calls of the target now running, innermost last: code nested in it (a comprehension, a generator
expression, an inner function) adds the values it sets to the innermost."""


def _repr(value):
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ says nothing about the fault being looked for
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPR else text[:MAX_REPR - 3] + "..."


def _snapshot(frame):
    return {name: _repr(value) for name, value in frame.f_locals.items()
            if not name.startswith("__") and name != ".0"}


def _local_tracer(frame, call, outer):
    """Records, for each executed line of ``frame``, the local values it changed, into ``call``."""
    state = {"line": frame.f_lineno, "seen": _snapshot(frame)}

    def local(frame, event, arg):
        if event in ("line", "return") and len(call["lines"]) < MAX_EVENTS:
            now = _snapshot(frame)
            changed = [[n, v] for n, v in now.items() if state["seen"].get(n) != v]
            state["seen"] = now
            if changed or outer:
                call["lines"].append([state["line"], changed])
        if event == "line":
            state["line"] = frame.f_lineno
        elif event == "exception" and outer:
            call["raised"] = f"{arg[0].__name__}: {_repr(arg[1])}"
        elif event == "return" and outer:
            call["returned"] = _repr(arg)
            _active.remove(call)
        return local

    return local


def _watch(frame):
    """The local tracer for a call of the target, or of code nested in it while it runs; None otherwise."""
    path, start, def_line, end = _TARGET
    line = frame.f_code.co_firstlineno
    if not start <= line <= end or os.path.realpath(frame.f_code.co_filename) != path:
        return None
    if line > def_line:
        return _local_tracer(frame, _active[-1], False) if _active else None
    if len(_calls) >= MAX_CALLS:
        return None
    code = frame.f_code
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount
                             + bool(code.co_flags & 4) + bool(code.co_flags & 8)]
    seen = _snapshot(frame)
    call = {"args": [[n, seen[n]] for n in names if n in seen], "lines": [], "returned": None, "raised": None}
    _calls.append(call)
    _active.append(call)
    return _local_tracer(frame, call, True)


def _ours(filename):
    known = _inside.get(filename)
    if known is None:
        real = os.path.realpath(filename) if os.path.isabs(filename) else ""
        known = _inside[filename] = real.startswith(_ROOT) and not any(s in real for s in _SKIP)
    return known


# Calls made by pytest itself and by the repr machinery it uses to show a failed assertion (an object's
# __repr__ or __eq__ run only to print the failure) say nothing about what the test ran: left out.
_REPORTERS = (os.sep + "_pytest" + os.sep, os.sep + "pluggy" + os.sep, os.sep + "reprlib.py", os.sep + "pprint.py",
              os.sep + "difflib.py")


def _tracer(frame, event, arg):
    if event == "call":
        code = frame.f_code
        if _ours(code.co_filename):
            caller = frame.f_back
            if caller is not None and any(r in caller.f_code.co_filename for r in _REPORTERS):
                return None
            _current.add((code.co_filename, code.co_firstlineno, code.co_name))
            if _TARGET is not None:
                return _watch(frame)
    return None


def pytest_runtest_protocol(item, nextitem):
    _current.clear()
    sys.settrace(_tracer)
    threading.settrace(_tracer)


def pytest_runtest_logreport(report):
    if report.failed:
        _failed.add(report.nodeid)
    if report.when != "teardown":
        return
    sys.settrace(None)
    threading.settrace(None)
    failed = report.nodeid in _failed
    _tests[1 if failed else 0] += 1
    for filename, line, name in _current:
        key = f"{os.path.relpath(os.path.realpath(filename), _ROOT)}:{line}:{name}"
        _counts.setdefault(key, [0, 0])[1 if failed else 0] += 1
    _current.clear()


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("LOCODER_TRACE_OUT")
    if out:
        with open(out, "w") as handle:
            json.dump({"tests": _tests, "functions": _counts, "calls": _calls}, handle)


def _run_script(path):
    """Run one script traced, as one test: it fails when it raises or exits non-zero."""
    import runpy
    import traceback

    sys.path.insert(0, os.getcwd())
    sys.argv = [path]
    failed = False
    sys.settrace(_tracer)
    threading.settrace(_tracer)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        failed = exc.code not in (None, 0)
    except BaseException:
        failed = True
        traceback.print_exc()
    finally:
        sys.settrace(None)
        threading.settrace(None)
    _failed.update(["script"] if failed else [])

    class Report:
        nodeid, when = "script", "teardown"

    report = Report()
    report.failed = failed
    pytest_runtest_logreport(report)
    pytest_sessionfinish(None, 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_run_script(sys.argv[1]))
