"""Benchmarks of locoder's core paths on this machine.

1. CLI cold start: ``locoder --help`` as a subprocess (and a bare ``python -c pass`` for scale).
2. Embedded model: load time, time to first token, and time from the first request of an agent
   step to a parsed tool call.
3. Prompt-processing and generation tokens/s through locoder's client vs a raw request to the
   same llama.cpp server (prefix cache off, generation forced to the same length).
4. Prompt tokens actually evaluated per turn over an N-turn conversation (does the prefix cache work?).
5. A whole ``locoder run`` session as a subprocess: wall time, exit code, peak RSS.

Run: ``.venv/bin/python bench/bench_core.py [--model NAME] [--turns N] [--skip-session]``.
Prints a plain-text table, then one JSON line with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import locoder.models.openai_compat as openai_compat
from locoder.agent.factory import build_agent
from locoder.agent.loop import Agent
from locoder.config import load_settings
from locoder.messages import Message, ModelResponse
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel
from locoder.models.parsing import action_schema
from locoder.protocols import Model

CALC_PY = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
FIRST_TASK = "What does the function add in calc.py return? Quote the line."
SESSION_TASK = "create hello.py that prints hello and run it"
TURN_TASK = "Review calc.py step by step: read it, check each function, and report what you find."
AGENT_MAX_TOKENS = 128
"""Cap per model turn for items 2 and 4: enough for one JSON action, short enough to bound the run."""
THROUGHPUT_PROMPT_CHARS = 2400
"""About 650 tokens of locoder's own source, the prompt of item 3."""
THROUGHPUT_GEN_TOKENS = 48
THROUGHPUT_RUNS = 3
SESSION_TIMEOUT_S = 300
BUSY_LOAD = 0.5
"""A 1-minute load average above this at the start means other work competes for the cores."""


# --- helpers ---


def locoder_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m locoder``."""
    script = Path(sys.executable).with_name("locoder")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "locoder"]


def make_workspace(root: Path, name: str) -> Path:
    """A small git repository holding calc.py."""
    ws = root / name
    ws.mkdir()
    (ws / "calc.py").write_text(CALC_PY)
    git = ["git", "-C", str(ws), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return ws


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return statistics.median(times)


class EventLog:
    """An agent event sink that keeps each event with the time it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), event))

    def first(self, kind: str) -> tuple[float, dict[str, Any]] | None:
        return next(((t, e) for t, e in self.events if e.get("type") == kind), None)


# --- 1. CLI start ---


def bench_cli_start(runs: int = 5) -> dict[str, float]:
    return {
        "locoder_help_median_s": median_wall([*locoder_command(), "--help"], runs),
        "python_bare_median_s": median_wall([sys.executable, "-c", "pass"], runs),
    }


# --- 2. first token, first tool call ---


def bench_first_token(model: Model, runs: int = 3) -> dict[str, Any]:
    """A short chat request; each one differs so that only the template prefix can be cached."""
    times = []
    for i in range(runs):
        reply = model.query([Message("user", f"Request {i}: reply with the single word ready.")])
        times.append(reply.first_token_seconds)
    return {"first_s": times[0], "median_s": statistics.median(times), "runs": times}


def bench_first_tool_call(agent: Agent) -> dict[str, Any]:
    """One agent step (``max_steps`` 1) on a fresh conversation, timed from the model request to the
    moment ``parse`` returned tool calls."""
    log = EventLog()
    agent.sinks.append(log)
    parsed_at: list[float] = []
    parse = agent.parse

    def timed_parse(response: ModelResponse, record: dict) -> list:
        calls = parse(response, record)
        parsed_at.append(time.monotonic())
        return calls

    agent.parse = timed_parse  # type: ignore[method-assign]  # the loop calls self.parse
    agent.config.max_steps = 1
    agent.run(FIRST_TASK)
    requested_at, _ = log.first("thinking") or (None, {})
    _, step = log.first("step") or (None, {})
    return {
        "first_token_s": step.get("first_token_seconds"),
        "model_s": step.get("model_seconds"),
        "to_parsed_call_s": parsed_at[0] - requested_at if parsed_at and requested_at else None,
        "prompt_tokens": (step.get("usage") or {}).get("prompt_tokens"),
        "calls": step.get("calls"),
        "format_error": step.get("format_error"),
    }


# --- 3. throughput: locoder's client vs the raw server ---


def bench_throughput(base_url: str, name: str) -> dict[str, Any]:
    """Prefix cache off and EOS ignored on both paths, so each request evaluates the whole prompt and
    generates exactly THROUGHPUT_GEN_TOKENS tokens. Runs alternate between the two paths."""
    source = Path(openai_compat.__file__).read_text()[:THROUGHPUT_PROMPT_CHARS]
    prompt = [Message("user", "Summarise this code in detail:\n\n" + source)]
    extra = {"cache_prompt": False, "ignore_eos": True}
    client = OpenAICompatModel(OpenAICompatConfig(
        base_url=base_url, model=name, temperature=0.0, max_tokens=THROUGHPUT_GEN_TOKENS, extra_body=extra))
    raw_body = {"messages": [m.to_wire() for m in prompt], "temperature": 0.0,
                "max_tokens": THROUGHPUT_GEN_TOKENS, **extra}
    raw, ours = [], []
    try:
        for _ in range(THROUGHPUT_RUNS):
            response = httpx.post(base_url + "/chat/completions", json=raw_body, timeout=300, trust_env=False)
            response.raise_for_status()
            raw.append(response.json()["timings"])
            ours.append(client.query(prompt))
    finally:
        client.close()
    result = {
        "prompt_tokens": ours[0].usage.prompt_tokens,
        "processed_raw": [t["prompt_n"] for t in raw],
        "processed_locoder": [r.usage.prompt_processed for r in ours],
        "raw_prompt_tps": statistics.median(t["prompt_per_second"] for t in raw),
        "raw_gen_tps": statistics.median(t["predicted_per_second"] for t in raw),
        # Locoder's view from wall time: the prompt up to the first streamed token, the rest after it.
        "locoder_prompt_tps": statistics.median(r.usage.prompt_tokens / r.first_token_seconds for r in ours),
        "locoder_gen_tps": statistics.median(
            (r.usage.completion_tokens - 1) / (r.seconds - r.first_token_seconds) for r in ours),
    }
    result["prompt_ratio"] = result["locoder_prompt_tps"] / result["raw_prompt_tps"]
    result["gen_ratio"] = result["locoder_gen_tps"] / result["raw_gen_tps"]
    return result


# --- 4. prefix cache over a conversation ---


def bench_prefix_cache(agent: Agent, turns: int) -> list[dict[str, Any]]:
    """The agent's own request (system prompt, action schema, locoder's client) over a growing
    conversation; each reply is kept verbatim and followed by a short observation, as the loop does."""
    schema = action_schema(agent.schemas, agent.config.max_actions_per_turn)
    messages = [agent.messages[0], Message("user", TURN_TASK)]
    rows = []
    for turn in range(1, turns + 1):
        reply = agent.model.query(messages, schema=schema)
        usage = reply.usage
        rows.append({"turn": turn, "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
                     "prompt_processed": usage.prompt_processed,
                     "completion_tokens": usage.completion_tokens, "seconds": reply.seconds})
        messages.append(Message("assistant", reply.content))
        messages.append(Message("tool", f"Result of step {turn}: done, {turn} check(s) passed. Continue."))
    return rows


# --- 5. a whole session ---


def bench_session(root: Path, model: str) -> dict[str, Any]:
    """``locoder run`` in a fresh repository under ``/usr/bin/time -v`` (or getrusage without it)."""
    ws = make_workspace(root, "session")
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").is_file() else []
    cmd = [*timer, *locoder_command(), "run", SESSION_TASK, "--workspace", str(ws), "--model", model,
           "--max-steps", "8"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=SESSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    wall = time.monotonic() - start
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr) if timer else None
    peak_kb = int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    hello = ws / "hello.py"
    ran = hello.is_file() and "hello" in subprocess.run(
        [sys.executable, str(hello)], capture_output=True, text=True, timeout=30).stdout.lower()
    return {"wall_s": wall, "exit_code": proc.returncode, "peak_rss_mb": peak_kb / 1024,
            "rss_source": "time -v" if found else "getrusage", "hello_py_works": ran}


# --- running and reporting ---


def bench_model(root: Path, model: str, turns: int) -> dict[str, Any]:
    """Items 2-4 on one embedded server: the one ``build_agent`` starts, reused by every request."""
    settings = load_settings({"workspace": str(make_workspace(root, "agent")), "model": model,
                              "max_tokens": AGENT_MAX_TOKENS})
    start = time.monotonic()
    agent = build_agent(settings)
    load_s = time.monotonic() - start
    server = getattr(agent.model, "server", None)
    if server is None:
        agent.model.close()
        raise SystemExit(f"{model} is not an embedded model; this benchmark needs llama.cpp's timings")
    try:
        return {
            "load_s": load_s,
            "first_token": bench_first_token(agent.model),
            "first_tool_call": bench_first_tool_call(agent),
            "throughput": bench_throughput(server.base_url, agent.model.name),
            "prefix_cache": bench_prefix_cache(agent, turns),
        }
    finally:
        agent.model.close()


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_model(results: dict[str, Any]) -> None:
    ttft, call = results["first_token"], results["first_tool_call"]
    print("2. Embedded model")
    print(f"   load (build_agent)                      {fmt(results['load_s'])} s")
    print(f"   first token, short prompt: first/median {fmt(ttft['first_s'])} / {fmt(ttft['median_s'])} s")
    print(f"   agent step 1 ({fmt(call['prompt_tokens'])} prompt tokens): first token {fmt(call['first_token_s'])} s,"
          f" parsed tool call {fmt(call['to_parsed_call_s'])} s")
    print(f"   step 1 calls: {json.dumps(call['calls'])}" + (f"  format error: {call['format_error']}"
                                                             if call["format_error"] else ""))
    tp = results["throughput"]
    print(f"3. Throughput, {tp['prompt_tokens']}-token prompt not cached (processed raw {tp['processed_raw']},"
          f" locoder {tp['processed_locoder']}), {THROUGHPUT_GEN_TOKENS} generated, median of {THROUGHPUT_RUNS}")
    print("                           raw server   locoder   locoder/raw")
    for label, key in (("prompt tokens/s", "prompt"), ("generation tokens/s", "gen")):
        print(f"   {label:<22}{tp[f'raw_{key}_tps']:>12.1f}{tp[f'locoder_{key}_tps']:>10.1f}"
              f"{tp[f'{key}_ratio']:>14.2f}")
    print("4. Prompt tokens per turn (prefix cache)")
    print("   turn   prompt   cached   processed   completion   seconds")
    for row in results["prefix_cache"]:
        print(f"   {row['turn']:>4}{row['prompt_tokens']:>9}{row['cached_tokens']:>9}"
              f"{fmt(row['prompt_processed']):>12}{row['completion_tokens']:>13}{row['seconds']:>10.2f}")


def print_report(results: dict[str, Any]) -> None:
    cli = results["cli"]
    print(f"locoder core benchmark: model {results['model']}, {os.cpu_count()} CPU cores, 1-minute load average"
          f" {results['load_average_start']:.2f} at start, {results['load_average_end']:.2f} at end")
    if results["load_average_start"] > BUSY_LOAD:
        print("   WARNING: the machine was busy when the benchmark started; the figures below are unreliable")
    print("1. CLI cold start (median of 5)")
    print(f"   locoder --help     {fmt(cli['locoder_help_median_s'], 3)} s")
    print(f"   python -c pass     {fmt(cli['python_bare_median_s'], 3)} s")
    print_model(results["embedded"])
    session = results.get("session")
    if session:
        print(f"5. Session: locoder run {SESSION_TASK!r}")
        print(f"   wall {fmt(session['wall_s'])} s, exit code {session['exit_code']}, peak RSS "
              f"{fmt(session['peak_rss_mb'], 0)} MB ({session['rss_source']}), hello.py works: "
              f"{session['hello_py_works']}")
    print(json.dumps(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="embedded model name or .gguf file")
    parser.add_argument("--turns", type=int, default=10, help="turns of the prefix-cache conversation")
    parser.add_argument("--skip-session", action="store_true", help="skip the whole-session run (item 5)")
    args = parser.parse_args(argv)
    # Other work on the machine skews every figure (llama.cpp uses all cores): the load shows it.
    results: dict[str, Any] = {"model": args.model, "load_average_start": os.getloadavg()[0],
                               "cli": bench_cli_start()}
    with tempfile.TemporaryDirectory(prefix="locoder-bench-") as tmp:
        results["embedded"] = bench_model(Path(tmp), args.model, args.turns)
        if not args.skip_session:
            results["session"] = bench_session(Path(tmp), args.model)
    results["load_average_end"] = os.getloadavg()[0]
    print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
