"""A pytest plugin that records which functions of the project each test runs (spectrum-based fault
localisation). It runs inside the project's own Python, confined like any command, so it imports nothing
from locoder and keeps to what Python 3.8 has.

    LOCODER_TRACE_OUT=FILE python -m pytest -p locoder_trace ...

writes ``{"tests": [passed, failed], "functions": {"path:line:name": [passed, failed]}}`` to FILE, the
paths relative to the folder pytest was started in.
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
            json.dump({"tests": _tests, "functions": _counts}, handle)


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
