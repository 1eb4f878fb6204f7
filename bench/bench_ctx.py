"""locoder ctx on a 100 MB mixed log: throughput, and how much it compresses without losing an exception.

Run: .venv/bin/python bench/bench_ctx.py [--mb 100] [--json]

The log is made in a temporary folder from real material: Python tracebacks (chained, an ExceptionGroup)
produced by running small programs now, and the Java, Node, Rust and Go traces in tests/fixtures/logs
when present, between INFO lines, repeated ERROR and WARNING lines with varying numbers, and JSON lines.
Prints MB/s, input lines against digest lines (the compression ratio), and checks that every distinct
exception line of the input appears in the digest.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from locoder.logs.digest import build_digest, render

PROGRAMS = {
    "chained": textwrap.dedent('''
        import json
        def parse(t):
            try:
                return json.loads(t)
            except json.JSONDecodeError as exc:
                raise ValueError("bad config") from exc
        def load():
            try:
                parse("{x")
            except ValueError:
                {}["missing"]
        load()
    '''),
    "group": 'raise ExceptionGroup("batch failed", [OSError("disk full"), TimeoutError("slow peer")])\n',
    "plain": "class QuotaExceeded(Exception):\n    pass\nraise QuotaExceeded('user 42 is over quota')\n",
}


def traces(work: Path) -> list[str]:
    out = []
    for name, code in PROGRAMS.items():
        (work / f"{name}.py").write_text(code)
        out.append(subprocess.run([sys.executable, f"{name}.py"], cwd=work, capture_output=True, text=True).stderr)
    fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "logs"
    out += [p.read_text() for p in sorted(fixtures.glob("*.log"))]
    return out


def exception_lines(trace: str) -> list[str]:
    """What a reader must not lose, found independently of locoder's parsers: each exception's type and
    message (Python's unindented lines and group members, Java's exception and causes, Node's error line),
    each panic message (Go, and Rust's line after "panicked at")."""
    keep = []
    lines = trace.splitlines()
    for i, line in enumerate(lines):
        bare = re.sub(r"^[\s|+-]*", "", line) if line.lstrip().startswith(("|", "+")) else line
        if re.match(r"^(Exception in thread \"[^\"]*\" |Caused by: )?(?:[\w$]+\.)+[\w$]*(Exception|Error)\b.*", line):
            keep.append(re.sub(r"^(Exception in thread \"[^\"]*\" |Caused by: )", "", line).strip())
        elif re.match(r"^thread '.*' (\(\d+\) )?panicked at .*:$", line) and i + 1 < len(lines):
            keep.append(lines[i + 1].strip())
        elif line.startswith("panic: "):
            keep.append(line.strip())
        elif re.match(r"^[A-Za-z_][\w.]*(: .*)?$", bare) and bare == bare.lstrip() and bare.strip() \
                and not bare.startswith(("Traceback", "During", "The above", "exit status", "goroutine", "Node.js",
                                         "stack backtrace", "note", "main.")) and (bare != line or not line[0].isspace()) \
                and (":" in bare or bare[0].isupper()):
            keep.append(bare.strip())
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ctx-"))
    samples = traces(work)
    rng = random.Random(3)
    target = args.mb * 1_000_000
    path = work / "mixed.log"
    written = 0
    lines = 0
    with open(path, "w") as f:
        while written < target:
            block = []
            for _ in range(2000):
                r = rng.random()
                n = rng.randrange(10_000)
                stamp = f"2026-11-21T{n % 24:02d}:{n % 60:02d}:{n % 59:02d}Z"
                if r < 0.01:
                    block.append(f"{stamp} ERROR db: connection to 10.0.{n % 9}.{n % 250}:5432 refused after {n % 30} ms")
                elif r < 0.02:
                    block.append(f"{stamp} WARNING slow request /api/items/{n} took {n % 900} ms")
                elif r < 0.03:
                    block.append(json.dumps({"time": stamp, "level": "error", "msg": f"job {n} failed: timeout after {n % 60}s"}))
                elif r < 0.032:
                    block.append(f"{stamp} ERROR worker {n} crashed\n" + rng.choice(samples).rstrip())
                else:
                    block.append(f"{stamp} INFO GET /api/items/{n} 200 in {n % 97} ms user={n * 7}")
            text = "\n".join(block) + "\n"
            f.write(text)
            written += len(text)
            lines += text.count("\n")
    start = time.perf_counter()
    digest = build_digest([str(path)], work).as_dict()
    seconds = time.perf_counter() - start
    text = render(digest)
    expected = sorted({line for s in samples for line in exception_lines(s)})
    lost = [line for line in expected if line not in text]
    figures = {"mb": round(written / 1e6, 1), "lines": lines, "seconds": round(seconds, 2),
               "mb_per_s": round(written / 1e6 / seconds, 1), "digest_lines": text.count("\n") + 1,
               "compression": round(lines / (text.count("\n") + 1)), "distinct_events": len(digest["events"]),
               "exception_lines_expected": len(expected), "exception_lines_lost": lost}
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print(f"{figures['mb']} MB, {lines:,} lines in {seconds:.1f} s: {figures['mb_per_s']} MB/s")
    print(f"digest: {figures['digest_lines']} lines ({figures['distinct_events']} distinct events); "
          f"compression {figures['compression']:,}:1")
    print(f"exception lines: {len(expected)} distinct in the input, {len(lost)} missing from the digest"
          + (f": {lost}" if lost else ""))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
