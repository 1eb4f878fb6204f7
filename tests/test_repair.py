"""The repair harness's pure parts, on real pytest runs in temporary projects: reading failures, tracing which
functions tests run, ranking suspects, turning replies into edits, finding examples in a task text."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.repair import forms
from locoder.repair.examples import examples, exception_line, traceback_frames
from locoder.repair.failures import PYTEST_ARGS, is_test_path, parse_pytest
from locoder.repair.localise import definitions, named_in, ochiai, project_definitions, rank
from locoder.tools.edit import syntax_error

TRACE_PLUGIN = Path(__file__).parent.parent / "src" / "locoder" / "repair" / "trace_plugin.py"

STATS = '''"""Small statistics."""


def mean(values):
    """The arithmetic mean."""
    return total(values) / (len(values) - 1)


def total(values):
    out = 0
    for v in values:
        out += v
    return out


class Counter:
    def __init__(self):
        self.n = 0

    @staticmethod
    def unit():
        return 1

    def bump(self, by=1):
        self.n += by
        return self.n
'''

TESTS = '''import pytest
from pkg.stats import Counter, mean, total


def test_total():
    assert total([1, 2, 3]) == 6


def test_mean():
    assert mean([2, 4]) == 3


@pytest.mark.parametrize("by", [1, 2])
def test_bump(by):
    assert Counter().bump(by) == by


def test_none():
    assert total(None) == 0
'''


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "stats.py").write_text(STATS)
    (root / "tests" / "test_stats.py").write_text(TESTS)
    return root


def pytest_run(root, *extra, env=None):
    out = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS.split(), *extra], cwd=root,
                         capture_output=True, text=True, env=env)
    return out.stdout


def test_failures_are_read_from_a_real_run(project):
    report = parse_pytest(pytest_run(project))
    assert report.counts == {"failed": 2, "passed": 3} and report.collected
    mean_failure, none_failure = report.failures
    assert mean_failure.nodeid == "tests/test_stats.py::test_mean"
    assert mean_failure.error_lines[0] == "assert 6.0 == 3" and mean_failure.called_names() == ["mean"]
    assert none_failure.summary.startswith("TypeError")
    # The innermost frame is in the library, where the exception was raised.
    assert [(f.path, f.function) for f in none_failure.frames][-1] == ("pkg/stats.py", "total")


def test_a_collection_error_is_a_failure_of_its_file(project):
    (project / "tests" / "test_broken.py").write_text("import nothing_of_that_name\n")
    report = parse_pytest(pytest_run(project))
    broken = [f for f in report.failures if f.kind == "error"]
    assert broken and broken[0].nodeid == "tests/test_broken.py" and "ModuleNotFoundError" in broken[0].text


def test_definitions_span_decorators_and_methods():
    defs = {d.qualname: d for d in definitions("pkg/stats.py", STATS)}
    assert set(defs) == {"mean", "total", "Counter.__init__", "Counter.unit", "Counter.bump"}
    unit = defs["Counter.unit"]
    assert (unit.start, unit.def_line, unit.end) == (20, 21, 22) and unit.source.startswith("    @staticmethod")


def test_tracing_leaves_out_what_pytest_runs_to_show_a_failure(tmp_path):
    """pytest calls an object's __repr__ to print a failed assertion: that call is not the test's, so it must not
    make __repr__ look like the place of the bug (it did, ranked first, on a real isodate task)."""
    (tmp_path / "money.py").write_text(
        "class Money:\n"
        "    def __init__(self, cents):\n"
        "        self.cents = cents\n\n"
        "    def __repr__(self):\n"
        "        return f'Money({self.cents})'\n\n"
        "    def __eq__(self, other):\n"
        "        return self.cents == other.cents\n\n"
        "def add(a, b):\n"
        "    return Money(a.cents - b.cents)\n")
    (tmp_path / "test_money.py").write_text(
        "from money import Money, add\n\n"
        "def test_add():\n"
        "    assert add(Money(1), Money(2)) == Money(3)\n\n"
        "def test_equal():\n"
        "    assert Money(1) == Money(1)\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TRACE_PLUGIN.parent),
           "LOCODER_TRACE_OUT": str(tmp_path / "trace.json")}
    output = subprocess.run([sys.executable, "-m", "pytest", "-p", "trace_plugin", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, capture_output=True, text=True, env=env).stdout
    assert "Money(-1)" in output  # pytest did call __repr__ to show the failure
    functions = json.loads((tmp_path / "trace.json").read_text())["functions"]
    assert functions["money.py:11:add"] == [0, 1]
    assert functions["money.py:8:__eq__"] == [1, 1]  # called by the tests' own comparisons
    assert "money.py:5:__repr__" not in functions


def test_tracing_and_ranking_put_the_faulty_function_first(project, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TRACE_PLUGIN.parent),
           "LOCODER_TRACE_OUT": str(tmp_path / "trace.json")}
    output = subprocess.run([sys.executable, "-m", "pytest", "-p", "trace_plugin", *PYTEST_ARGS.split()],
                            cwd=project, capture_output=True, text=True, env=env).stdout
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["tests"] == [3, 2]
    assert trace["functions"]["pkg/stats.py:4:mean"] == [0, 1]  # run by the failing test_mean only
    report = parse_pytest(output)
    defs = project_definitions(project, ["pkg/stats.py", "tests/test_stats.py"])
    assert all(not is_test_path(d.path) for d in defs)
    spectrum = ochiai(trace["functions"], trace["tests"], defs)
    mean_only = [f for f in report.failures if f.nodeid.endswith("test_mean")]
    ranked = rank(defs, mean_only, project, "mean([2, 4]) returns 6.0 instead of 3", spectrum)
    assert ranked[0].definition.qualname == "mean", [c.describe() for c in ranked]
    assert {"spectrum", "named", "called"} <= set(ranked[0].reasons)
    none_only = [f for f in report.failures if f.nodeid.endswith("test_none")]
    ranked = rank(defs, none_only, project, "total(None) raises TypeError", spectrum)
    assert ranked[0].definition.qualname == "total" and "traceback" in ranked[0].reasons


def test_names_in_a_task_text():
    assert {"parse_config", "loadFile", "slug", "Counter", "bump"} <= named_in(
        "parse_config and loadFile break; `slug()` too, and Counter().bump(2) returns -2")


def test_replies_become_edits_in_each_form():
    target = next(d for d in definitions("s.py", STATS) if d.qualname == "mean")
    fixed = "    return total(values) / len(values)\n"
    fenced = "The divisor is wrong.\n```python\ndef mean(values):\n    \"\"\"The arithmetic mean.\"\"\"\n" \
             "    return total(values) / len(values)\n```"
    assert fixed in forms.new_text("fenced", fenced, STATS, target)
    as_json = json.dumps({"thought": "x", "code": "def mean(values):\n    return total(values) / len(values)"})
    new = forms.new_text("function", as_json, STATS, target)
    assert fixed in new and new.count("def mean") == 1 and "def total" in new
    sr = json.dumps({"thought": "x", "search": "(len(values) - 1)", "replace": "len(values)"})
    assert fixed in forms.new_text("search_replace", sr, STATS, target)
    diff = json.dumps({"thought": "x", "diff": "@@ -1,3 +1,3 @@\n def mean(values):\n     \"\"\"The arithmetic mean.\"\"\"\n"
                                               "-    return total(values) / (len(values) - 1)\n+    return total(values) / len(values)\n"})
    assert fixed in forms.new_text("diff", diff, STATS, target)


def test_a_method_is_reindented_and_keeps_its_decorators():
    target = next(d for d in definitions("s.py", STATS) if d.qualname == "Counter.unit")
    new = forms.new_text("fenced", "```python\ndef unit():\n    return 2\n```", STATS, target)
    assert "    @staticmethod\n    def unit():\n        return 2\n" in new and syntax_error("s.py", new) is None


@pytest.mark.parametrize("reply,message", [
    ("no code here", "no ```python code block"),
    ("```python\ndef other():\n    pass\n```", "must be the whole function mean"),
    ("```python\ndef mean(values:\n```", "does not parse"),
])
def test_unusable_replies_say_why(reply, message):
    target = next(d for d in definitions("s.py", STATS) if d.qualname == "mean")
    with pytest.raises(forms.RepairError, match=message.replace("(", r"\(")):
        forms.new_text("fenced", reply, STATS, target)


def test_examples_in_a_task_text_become_scripts():
    task = ("Since upgrading, this fails:\n```python\nfrom pkg.stats import mean\nprint(mean([2, 4]))\n```\n"
            "and in the REPL:\n>>> from pkg.stats import total\n>>> total([1, 2])\n3\n")
    found = examples(task)
    assert [e.source for e in found] == ["from pkg.stats import mean\nprint(mean([2, 4]))",
                                         "from pkg.stats import total\nprint(repr(total([1, 2])))"]
    assert examples("```\n$ pip install x\n```") == []
    out = 'Traceback (most recent call last):\n  File "/w/a.py", line 3, in <module>\n    f()\n' \
          '  File "/w/pkg/m.py", line 9, in f\n    1/0\nZeroDivisionError: division by zero\n'
    assert [(f.path, f.line, f.function) for f in traceback_frames(out)] == [("/w/a.py", 3, "<module>"),
                                                                           ("/w/pkg/m.py", 9, "f")]
    assert exception_line(out) == "ZeroDivisionError: division by zero"


LONG = '''class Color:
\tdef name(self, value, spec="css3"):
\t\t"""The name of a colour value.

\t\tThe value is normalised first; the spec picks the table.
\t\tUnknown values raise ValueError.
\t\tAliases resolve to their canonical name.
\t\tThe table is read once per spec.
\t\tNames are lower case.

\t\t>>> Color().name("#fff")
\t\t'white'

\t\tSee also the hex helpers.
\t\t"""
\t\treturn TABLES[spec].get(value)
'''


def test_a_long_docstring_is_shown_short_with_its_examples_and_put_back():
    target = next(d for d in definitions("c.py", LONG) if d.qualname == "Color.name")
    shown = forms.shown_source(target)
    assert forms.SHORTENED in shown and "read once per spec" not in shown
    assert '>>> Color().name("#fff")' in shown and "'white'" in shown and "hex helpers" not in shown
    fixed = shown.replace("TABLES[spec].get(value)", "TABLES[spec].get(value.lower())")
    new = forms.new_text("fenced", f"```python\n{fixed}\n```", LONG, target)
    assert new == LONG.replace("TABLES[spec].get(value)", "TABLES[spec].get(value.lower())")
    # the model left the docstring out: the original goes back
    bare = 'def name(self, value, spec="css3"):\n\treturn TABLES[spec].get(value.lower())\n'
    new = forms.new_text("fenced", f"```python\n{bare}```", LONG, target)
    assert new == LONG.replace("TABLES[spec].get(value)", "TABLES[spec].get(value.lower())")
    # written with spaces in a file of tabs: the docstring follows the model's indentation and the file parses
    new = forms.new_text("fenced", f"```python\n{bare.replace(chr(9), '    ')}```", LONG, target)
    assert "read once per spec" in new and syntax_error("c.py", new) is None
    # a docstring the model wrote itself is kept
    own = 'def name(self, value, spec="css3"):\n    """Lower-cased lookup."""\n    return TABLES[spec].get(value)\n'
    new = forms.new_text("fenced", f"```python\n{own}```", LONG, target)
    assert "Lower-cased lookup." in new and "read once per spec" not in new


def test_a_short_docstring_is_shown_whole():
    target = next(d for d in definitions("s.py", STATS) if d.qualname == "mean")
    assert forms.shown_source(target) == target.source


PERCENT = '''SPECIAL = {255: "100%", 0: "0%"}


def percent(triplet):
    scale = 100 / 255
    return tuple(SPECIAL.get(f"{d * scale:.0f}%", d) for d in triplet)


def first(items):
    head = items[0]
    return head
'''
PERCENT_TESTS = '''from colours import percent, first


def test_percent():
    assert percent((255, 0, 51)) == ("100%", "0%", "20%")


def test_first_of_nothing():
    assert first([]) is None
'''


def _traced(tmp_path: Path, spec: str, test: str) -> list:
    (tmp_path / "colours.py").write_text(PERCENT)
    (tmp_path / "test_colours.py").write_text(PERCENT_TESTS)
    plugin = tmp_path / "harness"
    plugin.mkdir(exist_ok=True)
    source = Path(__file__).parent.parent / "src" / "locoder" / "repair" / "trace_plugin.py"
    (plugin / "locoder_trace.py").write_text(source.read_text())
    out = tmp_path / "trace.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(plugin), "LOCODER_TRACE_OUT": str(out),
           "LOCODER_TRACE_VALUES": spec}
    subprocess.run([sys.executable, "-m", "pytest", "-p", "locoder_trace", "-q", "-p", "no:cacheprovider", test],
                   cwd=tmp_path, env=env, capture_output=True, timeout=120)
    return json.loads(out.read_text())["calls"]


def test_the_value_tracer_records_a_call_and_the_code_nested_in_it(tmp_path):
    from locoder.repair.values import trace_spec, values_text

    target = next(d for d in definitions("colours.py", PERCENT) if d.name == "percent")
    calls = _traced(tmp_path, trace_spec(target), "test_colours.py::test_percent")
    assert len(calls) == 1
    text = values_text(calls, target, "test_colours.py::test_percent")
    lines = text.splitlines()
    assert lines[0].startswith("What percent did when the failing test test_colours.py::test_percent ran it")
    assert lines[1] == "Call 1: percent(triplet=(255, 0, 51))"
    assert "  line 5: scale = 100 / 255  ->  scale = 0.39215686274509803" in lines
    # The generator expression's rounds: one value of d each.
    assert [x.split("->  ")[1] for x in lines if x.startswith("  line 6")] == ["d = 255", "d = 0", "d = 51"]
    assert lines[-1] == "  returned (255, 0, 51)"


def test_the_value_tracer_records_what_a_call_raised(tmp_path):
    from locoder.repair.values import trace_spec, values_text

    target = next(d for d in definitions("colours.py", PERCENT) if d.name == "first")
    calls = _traced(tmp_path, trace_spec(target), "test_colours.py::test_first_of_nothing")
    text = values_text(calls, target, "test_colours.py::test_first_of_nothing")
    assert "Call 1: first(items=[])" in text and text.endswith("raised IndexError: IndexError('list index out of range')")
    assert values_text([], target, "t") == ""


def test_long_runs_are_shown_by_their_first_and_last_lines():
    from locoder.repair.values import HEAD, TAIL, values_text

    target = next(d for d in definitions("colours.py", PERCENT) if d.name == "percent")
    call = {"args": [["triplet", "()"]], "lines": [[6, [["d", str(n)]]] for n in range(40)], "returned": "()"}
    lines = values_text([call] * 3, target, "t").splitlines()
    shown = [x for x in lines if x.startswith("  line 6")]
    assert len(shown) == 2 * (HEAD + TAIL) and shown[HEAD - 1].endswith("d = 13") and shown[HEAD].endswith("d = 34")
    assert "  ... (20 more lines)" in lines and lines[-1] == "(1 more calls not shown)"
