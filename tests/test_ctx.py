"""locoder ctx: real logs made by real programs during the test (Python, Java, Node, Rust, pytest), a
recorded Go panic (no Go toolchain here), grouping of repeats, budgets, and the command and the tool."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from locoder.logs.digest import build_digest, render

FIXTURES = Path(__file__).parent / "fixtures" / "logs"


def run_to_log(cmd, log: Path, cwd: Path, env=None) -> Path:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
    log.write_text(out.stdout + out.stderr)
    return log


def events(root: Path, *paths: str) -> list[dict]:
    return build_digest(list(paths) or ["logs"], root).as_dict()["events"]


@pytest.fixture
def logs(tmp_path):
    (tmp_path / "logs").mkdir()
    return tmp_path


PY_CHAINED = textwrap.dedent('''
    import json

    class Boom(Exception):
        pass

    def parse(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"bad config: {text!r}") from exc

    def load():
        try:
            parse("{nope")
        except ValueError:
            raise Boom("could not load the settings")

    load()
''')


def test_python_chained_exceptions_keep_every_exception_line(logs):
    (logs / "app.py").write_text(PY_CHAINED)
    run_to_log([sys.executable, "app.py"], logs / "logs" / "py.log", logs)
    (exc,) = [e for e in events(logs) if e["kind"] == "exception"]
    assert exc["text"].startswith("Boom: could not load the settings  (python trace")
    detail = "\n".join(exc["detail"])
    assert "also: ValueError: bad config: '{nope'" in detail and "also: json.decoder.JSONDecodeError" in detail
    assert f"at {logs / 'app.py'}:17 in load" in detail  # the innermost user frame of the raised exception
    assert "more frames omitted" in detail


def test_exception_groups_and_exceptions_without_error_in_their_name(logs):
    (logs / "group.py").write_text(textwrap.dedent('''
        def main():
            raise BaseExceptionGroup("many problems", [ValueError("first bad"), KeyboardInterrupt()])
        main()
    '''))
    (logs / "stop.py").write_text("def gen():\n    raise StopIteration('drained')\ngen()\n")
    run_to_log([sys.executable, "group.py"], logs / "logs" / "group.log", logs)
    run_to_log([sys.executable, "stop.py"], logs / "logs" / "stop.log", logs)
    found = {e["text"].split("  (")[0]: "\n".join(e["detail"]) for e in events(logs) if e["kind"] == "exception"}
    assert "StopIteration: drained" in found
    group = found["BaseExceptionGroup: many problems (2 sub-exceptions)"]
    assert "also: ValueError: first bad" in group and "also: KeyboardInterrupt" in group


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK")
def test_java_caused_by_and_more(logs):
    (logs / "Boom.java").write_text(textwrap.dedent('''
        public class Boom {
            static int parse(String s) { return Integer.parseInt(s); }
            static int load(String s) {
                try { return parse(s); }
                catch (NumberFormatException e) { throw new IllegalStateException("not a number: " + s, e); }
            }
            public static void main(String[] args) { load("12x"); }
        }
    '''))
    subprocess.run(["javac", "Boom.java"], cwd=logs, check=True, timeout=120)
    run_to_log(["java", "Boom"], logs / "logs" / "java.log", logs)
    (exc,) = [e for e in events(logs) if e["kind"] == "exception"]
    assert exc["text"].startswith("java.lang.IllegalStateException: not a number: 12x  (java trace")
    detail = "\n".join(exc["detail"])
    assert "at Boom.java:6 in Boom.load" in detail and 'also: java.lang.NumberFormatException: For input string: "12x"' in detail


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node")
def test_node_errors(logs):
    (logs / "boom.js").write_text('function parse(t) { return JSON.parse(t); }\nfunction load() { return parse("{nope"); }\nload();\n')
    run_to_log(["node", "boom.js"], logs / "logs" / "node.log", logs)
    (exc,) = [e for e in events(logs) if e["kind"] == "exception"]
    assert exc["text"].startswith("SyntaxError: ") and "(node trace" in exc["text"]
    detail = "\n".join(exc["detail"])
    assert f"at {logs / 'boom.js'}:1 in parse" in detail and "node:internal" not in detail


@pytest.mark.skipif(shutil.which("rustc") is None, reason="no Rust")
def test_rust_panics_with_a_backtrace(logs):
    (logs / "main.rs").write_text("fn pick(v: &[u32], i: usize) -> u32 {\n    v[i]\n}\nfn main() {\n"
                                  "    let v = vec![1, 2, 3];\n    println!(\"{}\", pick(&v, 5));\n}\n")
    subprocess.run(["rustc", "-g", "main.rs", "-o", "boom"], cwd=logs, check=True, timeout=300)
    run_to_log(["./boom"], logs / "logs" / "rust.log", logs, env={"RUST_BACKTRACE": "1", "PATH": "/usr/bin:/bin"})
    (exc,) = [e for e in events(logs) if e["kind"] == "exception"]
    assert "panic in thread 'main': index out of bounds: the len is 3 but the index is 5" in exc["text"]
    assert any("main.rs:2 in main::pick" in d for d in exc["detail"])


def test_a_recorded_go_panic(tmp_path):
    (exc,) = [e for e in events(tmp_path, str(FIXTURES / "go_panic.log")) if e["kind"] == "exception"]
    assert exc["text"].startswith("panic: runtime error: index out of range [5] with length 3  (go trace, 3 frames)")
    assert exc["detail"][0] == "    at /home/dev/shop/worker.go:14 in main.pick"


def test_pytest_failures(logs):
    (logs / "test_shop.py").write_text("def test_ok():\n    assert 1\n\ndef test_total():\n    assert 1 + 1 == 3\n\n"
                                       "def test_crash():\n    {}['x']\n")
    run_to_log([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_shop.py"], logs / "logs" / "pytest.log", logs)
    digest = build_digest(["logs"], logs).as_dict()
    failed = sorted(e["text"] for e in digest["events"] if e["kind"] == "failed-test")
    assert failed == ["FAILED test_shop.py::test_crash - KeyError: 'x'", "FAILED test_shop.py::test_total - assert (1 + 1) == 3"]
    assert digest["summaries"] and digest["summaries"][0].startswith("2 failed, 1 passed")


def test_repeats_are_grouped_with_first_and_last_and_json_lines_are_read(logs):
    lines = [f"2026-11-21T10:00:{i:02d}Z ERROR db: connection to 10.0.0.{i}:5432 refused after {i * 3} ms"
             for i in range(40)]
    lines.insert(20, "2026-11-21T10:00:20Z INFO all good")
    (logs / "logs" / "app.log").write_text("\n".join(lines) + "\n")
    records = [{"time": f"2026-11-21T11:00:{i:02d}Z", "level": "error" if i % 10 == 0 else "info",
                "msg": f"job {i} failed: timeout after {i}s", "exc_info": None} for i in range(30)]
    records[5] = {"time": "2026-11-21T11:00:05Z", "level": "error", "msg": "worker crashed",
                  "exc_info": 'Traceback (most recent call last):\n  File "/srv/w.py", line 3, in run\n    go()\nOSError: disk full'}
    (logs / "logs" / "svc.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    found = {(e["kind"], e["text"]): e for e in events(logs)}
    db = found[("error", "ERROR db: connection to 10.0.0.0:5432 refused after 0 ms")]
    assert db["count"] == 40 and db["first"] == "logs/app.log:1 (2026-11-21T10:00:00Z)"
    assert db["last"] == "logs/app.log:41 (2026-11-21T10:00:39Z)"
    assert found[("error", "job 0 failed: timeout after 0s")]["count"] == 3
    assert ("exception", "OSError: disk full  (python trace, 1 frames)") in found


def test_the_digest_fits_its_budget_and_says_what_it_left_out(logs):
    (logs / "logs" / "many.log").write_text("\n".join(f"ERROR distinct failure kind {chr(65 + i % 26)}{i // 26} happened"
                                                      for i in range(300)) + "\n")
    digest = build_digest(["logs"], logs).as_dict()
    for tokens in (60, 200, 1000):
        text = render(digest, tokens)
        assert len(text) <= tokens * 4 and "more distinct events not shown" in text


def test_no_exception_line_is_lost_on_a_large_mixed_log(logs):
    (logs / "app.py").write_text(PY_CHAINED)
    trace = subprocess.run([sys.executable, "app.py"], cwd=logs, capture_output=True, text=True).stderr
    chunk = "".join(f"2026-11-21T10:00:00Z INFO request {i} served in {i % 97} ms\n" for i in range(20000))
    with open(logs / "logs" / "big.log", "w") as f:
        for n in range(15):  # about 15 MB
            f.write(chunk)
            f.write(f"2026-11-21T10:00:00Z ERROR worker {n} died\n" + trace)
    digest = build_digest(["logs"], logs).as_dict()
    (exc,) = [e for e in digest["events"] if e["kind"] == "exception"]
    assert exc["count"] == 15 and digest["lines"] > 300_000
    expected = [line for line in trace.splitlines() if line and not line[0].isspace() and ":" in line
                and not line.startswith(("Traceback", "During", "The above"))]
    shown = render(digest)
    assert len(expected) == 3 and all(line in shown for line in expected), expected


def test_the_command_and_the_tool(logs):
    (logs / "logs" / "app.log").write_text("2026-11-21T10:00:00Z ERROR early\n2026-11-21T12:00:00Z ERROR late one\n")

    def ctx(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "locoder", "ctx", *args, "-w", str(logs)], capture_output=True,
                              text=True, timeout=60, input=stdin)

    assert "ERROR early" in ctx().stdout
    assert "early" not in ctx("--since", "2026-11-21T11:00").stdout
    data = json.loads(ctx("--json").stdout)
    assert data["command"] == "ctx" and len(data["events"]) == 2
    piped = ctx("-", stdin="panic: oh no\n\ngoroutine 1 [running]:\nmain.main()\n\t/x/main.go:3 +0x1\n")
    assert "panic: oh no" in piped.stdout
    missing = ctx("nowhere.log")
    assert missing.returncode != 0 and "no log at nowhere.log" in missing.stderr
    empty = logs / "empty"
    empty.mkdir()
    bare = subprocess.run([sys.executable, "-m", "locoder", "ctx", "-w", str(empty)], capture_output=True, text=True)
    assert bare.returncode != 0 and "no logs/ folder" in bare.stderr

    from locoder.messages import ToolCall
    from locoder.tools import ToolBox, ToolContext, all_tools

    box = ToolBox(all_tools(), ToolContext(workspace=logs))
    out = box.execute(ToolCall("context", {"max_tokens": 100}))
    assert out.ok and "ERROR late one" in out.output and len(out.output) <= 400
    assert not box.execute(ToolCall("context", {"path": "../etc"})).ok
