"""The benchmark's tasks: the fault injector, the suite runner, and the shipped bug-fix set on its real projects.

The shipped-set tests fetch the pinned sdists from the package index (once, into a cache shared by the test
session) and check every task against the real pristine source; one task is prepared, run and scored end
to end with its project's own test suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.tasks import faults
from locoder.tasks.bugfix import load_tasks, prepare, remove_tests, score
from locoder.tasks.projects import BenchError, fetch_project
from locoder.tasks.testrun import run_suite

TASK_FILE = Path(__file__).resolve().parent.parent / "src" / "locoder" / "tasks" / "bugfix.json"
RESERVED = {"toolz", "humanize", "python-slugify", "slugify", "tabulate", "more-itertools", "more_itertools",
            "inflection"}

SOURCE = '''\
def clamp(value, low=0, high=10):
    """Value within [low, high]."""
    if value < low:
        return low
    if value > high and high is not None:
        return high
    return value + 0
'''


def test_every_fault_applies_to_its_span_and_its_inverse_restores_the_text():
    found = faults.sites(SOURCE, "m.py")
    kinds = {fault.kind for fault in found}
    assert {"boundary", "boolean", "comparison", "default", "arithmetic", "constant"} <= kinds
    for fault in found:
        changed = faults.apply(SOURCE, fault)
        assert changed != SOURCE
        assert faults.apply(changed, faults.invert(fault)) == SOURCE, fault.describe()


def test_a_fault_refuses_text_it_was_not_made_for():
    fault = next(f for f in faults.sites(SOURCE, "m.py") if f.kind == "boundary")
    with pytest.raises(faults.FaultMismatch):
        faults.apply(SOURCE.replace("value < low", "value==low"), fault)


def test_sampling_is_seeded_and_spread_over_kinds():
    found = faults.sites(SOURCE, "m.py")
    first, again = faults.sample(found, 5, seed=7), faults.sample(found, 5, seed=7)
    assert first == again
    assert len({fault.kind for fault in first}) == 5


def test_removing_tests_keeps_the_rest_of_the_module_and_leaves_a_class_valid():
    module = "import x\n\nclass TestA:\n    @mark\n    def test_one(self):\n        pass\n\n\ndef test_two():\n    x()\n\n\ndef test_three():\n    pass\n"
    out = remove_tests(module, [("TestA", "test_one"), (None, "test_two")])
    compile(out, "t.py", "exec")
    assert "test_one" not in out and "test_two" not in out and "@mark" not in out
    assert "def test_three" in out and "class TestA" in out
    with pytest.raises(KeyError):
        remove_tests(module, [(None, "test_missing")])


def test_a_suite_run_reports_each_test_and_survives_a_module_that_does_not_import(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_ok():\n    assert 1\n\ndef test_bad():\n    assert 1 == 2, 'one is not two'\n")
    run = run_suite(Path(sys.executable), tmp_path, ["test_a.py"])
    assert run.outcomes == {"test_a.py::test_ok": "passed", "test_a.py::test_bad": "failed"}
    assert "one is not two" in run.messages["test_a.py::test_bad"]
    (tmp_path / "test_a.py").write_text("def broken(:\n")
    run = run_suite(Path(sys.executable), tmp_path, ["test_a.py"])
    assert run.with_outcome("passed") == set() and not run.timed_out


# The shipped set.

@pytest.fixture(scope="module")
def shipped():
    return load_tasks(TASK_FILE)


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-cache")


def test_the_shipped_set_is_large_varied_and_leaves_the_reserved_packages_alone(shipped):
    projects = {task.project for task in shipped}
    assert len(shipped) >= 40 and len(projects) >= 6
    assert not projects & RESERVED
    assert len({task.id for task in shipped}) == len(shipped)
    data = json.loads(TASK_FILE.read_text())
    assert set(data["projects"]) == projects


def test_reports_tell_the_symptom_and_never_the_location(shipped):
    for task in shipped:
        assert len(task.text) > 60, task.id
        lowered = task.text.lower()
        assert Path(task.fault.file).name.lower() not in lowered, f"{task.id} names the file"
        assert f"line {task.fault.line}" not in lowered, f"{task.id} names the line"
        assert task.fault.original.strip() not in task.text or len(task.fault.original.strip()) < 4, task.id


def test_every_fault_applies_to_the_pinned_pristine_source_and_its_tests_exist(shipped, bench_cache):
    for task in shipped:
        try:
            pristine = fetch_project(task.project, task.version, task.sha256, bench_cache)
        except BenchError as exc:
            pytest.fail(f"{task.project} {task.version}: {exc}")
        text = (pristine / task.fault.file).read_text(encoding="utf-8")
        assert faults.changes_code(text, task.fault), task.id
        assert any(task.fault.file == item or task.fault.file.startswith(item.rstrip("/") + "/")
                   for item in task.library), f"{task.id}: the fault is outside the scored library"
        for test_id in task.target_tests:
            path, *rest = test_id.split("::")
            name = rest[-1].split("[", 1)[0]
            assert re.search(rf"def {re.escape(name)}\b", (pristine / path).read_text(encoding="utf-8")), test_id


def test_a_task_prepared_fails_its_tests_and_the_original_code_passes_them(shipped, bench_cache, tmp_path):
    task = min(shipped, key=lambda t: (t.project != "webcolors", t.id))
    repo = prepare(task, tmp_path / "repo", "present", cache_dir=bench_cache)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert status.stdout == "", "the fault must be committed, invisible to git diff"
    faulty = score(task, repo, cache_dir=bench_cache)
    assert not faulty.solved and faulty.target_passed == 0 and faulty.target_total == len(task.target_tests)
    target = repo / task.fault.file
    target.write_text(faults.apply(target.read_text(encoding="utf-8"), faults.invert(task.fault)),
                      encoding="utf-8")
    fixed = score(task, repo, cache_dir=bench_cache)
    assert fixed.solved and fixed.target_passed == fixed.target_total, fixed.detail


def test_the_removed_variant_hides_the_failing_tests(shipped, bench_cache, tmp_path):
    task = min(shipped, key=lambda t: (t.project != "webcolors", t.id))
    repo = prepare(task, tmp_path / "repo", "removed", cache_dir=bench_cache)
    for test_id in task.target_tests:
        path, *rest = test_id.split("::")
        name = rest[-1].split("[", 1)[0]
        assert not re.search(rf"def {re.escape(name)}\b", (repo / path).read_text(encoding="utf-8")), test_id


def _example_output(task, pristine: Path, tmp: Path, faulty: bool) -> tuple[int, str]:
    import shutil

    tree = tmp / ("faulty" if faulty else "pristine") / task.id
    shutil.copytree(pristine, tree, symlinks=True)
    if faulty:
        target = tree / task.fault.file
        target.write_text(faults.apply(target.read_text(encoding="utf-8"), task.fault), encoding="utf-8")
    root = tree / task.source_root if task.source_root else tree
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r})\n" + task.example],
                          cwd=tmp, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + "".join(done.stderr.strip().splitlines()[-1:])


def test_every_report_has_an_example_that_shows_the_bug(shipped, bench_cache, tmp_path):
    for task in shipped:
        assert task.example, f"{task.id} has no example"
        pristine = fetch_project(task.project, task.version, task.sha256, bench_cache)
        code, good = _example_output(task, pristine, tmp_path, faulty=False)
        assert code == 0 and good.strip(), f"{task.id}: the example fails on the original code: {good!r}"
        _, bad = _example_output(task, pristine, tmp_path, faulty=True)
        assert good != bad, f"{task.id}: the example prints the same with and without the bug: {good!r}"
