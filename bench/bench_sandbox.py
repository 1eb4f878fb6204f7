"""Per-command overhead of each command runner: 200 runs of `true`, as the agent's tools run them.

Run: .venv/bin/python bench/bench_sandbox.py [--runs N]
Prints median, p95 and mean milliseconds per command for: a bare subprocess (no locoder), locoder's plain
runner (process group, output capture), and the bubblewrap and Landlock runners with their limits (pids
cgroup, prlimit). A runner this machine cannot use is reported, not timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from locoder.sandbox import Sandbox, SandboxPolicy, landlock
from locoder.sandbox.runners import bubblewrap, bubblewrap_works, pids_cgroup_root


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median_ms": statistics.median(ms), "p95_ms": ordered[int(len(ms) * 0.95) - 1], "mean_ms": statistics.fmean(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    rows = {"bare subprocess.run(['true'])": timed(lambda: subprocess.run(["true"]), args.runs)}
    plain = Sandbox(ws, SandboxPolicy(runner="plain", max_processes=0, cpu_seconds=0, memory_mb=0, file_size_mb=0))
    rows["locoder plain runner"] = timed(lambda: plain.run("true", timeout=10, max_output=1000), args.runs)
    limited = Sandbox(ws, SandboxPolicy(runner="plain"))
    rows["plain + limits (cgroup, prlimit)"] = timed(lambda: limited.run("true", timeout=10, max_output=1000), args.runs)
    if bubblewrap_works():
        confined = Sandbox(ws, SandboxPolicy(runner="bubblewrap"))
        rows["bubblewrap + limits"] = timed(lambda: confined.run("true", timeout=10, max_output=1000), args.runs)
    if landlock.abi():
        locked = Sandbox(ws, SandboxPolicy(runner="landlock"))
        rows["landlock + limits"] = timed(lambda: locked.run("true", timeout=10, max_output=1000), args.runs)
    print(f"{args.runs} runs of `true` each; pids cgroup: {pids_cgroup_root() or 'none'}; "
          f"bubblewrap: {bubblewrap() or 'not installed'}{'' if bubblewrap_works() else ' (cannot run)'}; "
          f"Landlock ABI: {landlock.abi() or 'none'}")
    print(f"{'runner':<36} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8}")
    results = {}
    for name, ms in rows.items():
        results[name] = summary(ms)
        r = results[name]
        print(f"{name:<36} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} {r['mean_ms']:>8.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
