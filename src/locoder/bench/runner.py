"""``locoder bench``: one task set, several agents, one model server; a result line per (task, agent).

A task set is a ``Suite``: the bug-fix tasks (failing tests present, or removed) or HumanEval. For each task
and agent the runner prepares a fresh repository, runs the agent on the task's text (locoder as a subprocess
of itself, the peers through ``peers.py``), all of them through a ``CountingProxy`` so tokens are counted the
same way, and scores the repository with the suite's own scorer. Results are appended to
``results.jsonl`` as they come, so an interrupted run resumes where it stopped. With ``ray_address`` the
(task, agent) pairs are spread over a Ray cluster; every worker points at the same model server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from locoder.bench.choices import AGENTS, SUITES
from locoder.bench.peers import PeerRun, run_aider, run_mini_swe_agent
from locoder.bench.proxy import CountingProxy

__all__ = ["AGENTS", "SUITES", "Suite", "run_suite"]


@dataclass
class Item:
    """One task of a suite: its id and the text the agent is given."""

    id: str
    text: str
    payload: object = None


@dataclass
class Result:
    suite: str
    task: str
    agent: str
    solved: bool
    seconds: float
    exit_code: int | None
    timed_out: bool
    requests: int
    prompt_tokens: int
    completion_tokens: int
    detail: str = ""
    changed: str = ""
    settings: dict = field(default_factory=dict)
    estimated_requests: int = 0
    """Requests cut mid-stream: their completion tokens are counted from the chunks, prompt tokens unknown."""


class Suite:
    """A task set: its items, how to prepare a repository for one, and how to score it."""

    def __init__(self, name: str, tasks_file: Path | None = None, cache_dir: Path | None = None) -> None:
        if name not in SUITES:
            raise ValueError(f"unknown task set {name!r}; choose one of {', '.join(SUITES)}")
        self.name, self.cache_dir = name, cache_dir
        self.tasks_file = tasks_file or default_tasks_file()

    def items(self) -> list[Item]:
        if self.name == "humaneval":
            from locoder.tasks import humaneval

            return [Item(p.task_id, humaneval.task_text(p), p) for p in humaneval.load_problems()]
        from locoder.tasks.bugfix import load_tasks

        return [Item(t.id, t.text, t) for t in load_tasks(self.tasks_file) if t.text]

    def prepare(self, item: Item, dest: Path) -> Path:
        if self.name == "humaneval":
            from locoder.tasks import humaneval

            return humaneval.prepare(item.payload, dest)
        from locoder.tasks.bugfix import prepare

        return prepare(item.payload, dest, "removed" if self.name == "bugfix-removed" else "present",
                       cache_dir=self.cache_dir)

    def score(self, item: Item, repo: Path) -> tuple[bool, str]:
        if self.name == "humaneval":
            from locoder.tasks import humaneval

            checked = humaneval.check(item.payload, repo)
            return checked.passed, f"{checked.status}: {checked.detail[-300:]}"
        from locoder.tasks.bugfix import score

        scored = score(item.payload, repo, cache_dir=self.cache_dir)
        return scored.solved, scored.detail

    def test_command(self) -> str | None:
        return None if self.name == "humaneval" else ".venv/bin/python -m pytest -q -x"


def default_tasks_file() -> Path:
    return Path(__file__).parent.parent / "tasks" / "bugfix.json"


def run_locoder(repo: Path, task: str, base_url: str, model: str, timeout: float, *, log_path: Path,
                extra: tuple[str, ...] = ()) -> PeerRun:
    """locoder on one task, as a user runs it (``locoder run``), through a counting proxy."""
    with CountingProxy(base_url) as proxy:
        argv = [sys.executable, "-m", "locoder", "run", task, "-w", str(repo), "--model", proxy.base_url,
                "--temperature", "0", *(["--model-name", model] if model else []), *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LOCODER_"))}
        env["COLUMNS"] = "160"
        start = time.monotonic()
        timed_out, code = False, None
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        totals = proxy.totals(settle=10.0)
    return PeerRun("locoder", code, timed_out, round(time.monotonic() - start, 1), totals.requests,
                   totals.prompt_tokens, totals.completion_tokens, log_path, "", totals.failed,
                   settings={"args": " ".join(extra)}, estimated_requests=totals.estimated)


def run_agent(agent: str, suite: Suite, item: Item, base_url: str, model: str, timeout: float, work: Path,
              locoder_args: tuple[str, ...] = ()) -> Result:
    """Prepare a fresh repository for ``item``, run ``agent`` on it, score it."""
    repo = suite.prepare(item, work / "repo")
    log = work / f"{agent}.log"
    if agent == "locoder":
        run = run_locoder(repo, item.text, base_url, model, timeout, log_path=log, extra=locoder_args)
    elif agent == "aider":
        run = run_aider(repo, item.text, base_url, model or "local", timeout, suite.test_command(), log_path=log)
    elif agent == "mini-swe-agent":
        run = run_mini_swe_agent(repo, item.text, base_url, model or "local", timeout, log_path=log)
    else:
        raise ValueError(f"unknown agent {agent!r}; choose from {', '.join(AGENTS)}")
    solved, detail = suite.score(item, repo)
    return Result(suite.name, item.id, agent, solved, run.seconds, run.exit_code, run.timed_out, run.requests,
                  run.prompt_tokens, run.completion_tokens, detail[:500], run.changed[:500], run.settings,
                  run.estimated_requests)


def done_pairs(path: Path) -> set[tuple[str, str]]:
    """(task, agent) pairs already in a results file (a run resumes where it stopped)."""
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            r = json.loads(line)
            out.add((r["task"], r["agent"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def append_result(path: Path, result: Result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(result)) + "\n")


def read_results(path: Path) -> list[dict]:
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _one(spec: dict) -> dict:
    """One (task, agent) pair in a scratch folder; a plain function of plain data, so Ray can ship it."""
    suite = Suite(spec["suite"], Path(spec["tasks_file"]) if spec["tasks_file"] else None)
    item = next(i for i in suite.items() if i.id == spec["task"])
    work = Path(tempfile.mkdtemp(prefix=f"locoder-bench-{spec['agent']}-"))
    try:
        try:
            result = run_agent(spec["agent"], suite, item, spec["base_url"], spec["model"], spec["timeout"], work,
                               tuple(spec["locoder_args"]))
        except Exception as exc:  # one broken task must not end the run; it is reported as not solved
            result = Result(suite.name, item.id, spec["agent"], False, 0.0, None, False, 0, 0, 0,
                            f"the run failed: {type(exc).__name__}: {exc}"[:500])
        log = work / f"{spec['agent']}.log"
        if spec.get("keep_logs") and log.exists():
            logs = Path(spec["keep_logs"])
            logs.mkdir(parents=True, exist_ok=True)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec["task"])
            shutil.copy2(log, logs / f"{safe}.{spec['agent']}.log")
        return asdict(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_suite(suite: Suite, agents: list[str], base_url: str, model: str, out: Path, *, timeout: float = 600,
              only: list[str] | None = None, limit: int = 0, locoder_args: tuple[str, ...] = (),
              ray_address: str = "", progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every (task, agent) pair not yet in ``out/results.jsonl``; returns all results there."""
    items = [i for i in suite.items() if not only or i.id in only]
    if limit:
        items = items[:limit]
    results_file = out / "results.jsonl"
    done = done_pairs(results_file)
    specs = [{"suite": suite.name, "tasks_file": str(suite.tasks_file), "task": i.id, "agent": a, "base_url": base_url,
              "model": model, "timeout": timeout, "locoder_args": list(locoder_args), "keep_logs": str(out / "logs")}
             for i in items for a in agents if (i.id, a) not in done]
    for data in (_ray_map(ray_address, specs) if ray_address else map(_one, specs)):
        append_result(results_file, Result(**data))
        if progress is not None:
            progress(data)
    return read_results(results_file)


def _ray_map(address: str, specs: list[dict]) -> Iterator[dict]:
    try:
        import ray
    except ImportError:
        from locoder.exceptions import LocoderError

        raise LocoderError("--ray needs Ray: pip install 'locoder[bench]' (or pip install ray)") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(_one)
    pending = [remote.remote(spec) for spec in specs]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])
