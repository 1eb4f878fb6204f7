"""Bytes that are not UTF-8 where text is expected: a file name in the workspace, a byte in the memory bank's
notes, an audit-log line torn inside a character. None may crash a session or a later start, and the audit
log stays valid UTF-8 JSON lines. Real ``locoder run`` with a scripted model, per runner."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import action
from escape.world import RUNNERS
from locoder.audit import AuditLog, read_audit_log
from locoder.locations import StatePaths
from locoder.memory import recent_notes


def locoder(workspace: Path, home: Path, *args: str):
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": "200"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_SANDBOX"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "locoder", *args, "-w", str(workspace)], capture_output=True,
                          env=env, timeout=120)


def scripted(tmp_path: Path, *replies: str) -> str:
    path = tmp_path / f"replies-{len(list(tmp_path.glob('replies-*')))}.json"
    path.write_text(json.dumps(list(replies)))
    return f"scripted:{path}"


@pytest.fixture
def ws(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("hello\n")
    home = tmp_path / "home"
    home.mkdir()
    return workspace, home


def log_of(workspace: Path) -> Path:
    return workspace / ".locoder" / "logs" / "agent_audit.jsonl"


def assert_valid_log(path: Path) -> list[dict]:
    data = path.read_bytes()
    data.decode("utf-8")  # raises if any byte is not UTF-8
    records = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert any(r["type"] == "result" for r in records)
    return records


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_file_name_that_is_not_utf8_does_not_break_the_session_or_the_log(tmp_path, ws, runner):
    workspace, home = ws
    bad = os.fsencode(workspace) + b"/caf\xe9-\xff.txt"
    with open(bad, "wb") as handle:
        handle.write(b"needle in a latin-1 name\n")
    model = scripted(tmp_path, action("list_files"), action("grep", pattern="needle"),
                     action("run_command", command="ls"), action("final_answer", answer="listed"))
    out = locoder(workspace, home, "run", "list", "-m", model, "--sandbox", runner, "--workflow", "loop")
    assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")
    records = assert_valid_log(log_of(workspace))
    listed = next(r for r in records if r["type"] == "step")["observations"][0]["output"]
    assert "caf" in listed and "a.txt" in listed
    assert records[-1]["type"] in ("result", "summary")


def test_the_audit_writer_keeps_unencodable_text_as_json_escapes(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.emit({"type": "step", "name": os.fsdecode(b"caf\xe9"), "lone": "\ud800", "ok": "caf\u00e9"})
    data = (tmp_path / "audit.jsonl").read_bytes()
    assert not log.failed and b"\\udce9" in data and b"\\ud800" in data and "café".encode() in data
    (record,) = read_audit_log(tmp_path / "audit.jsonl")
    assert os.fsencode(record["name"]) == b"caf\xe9"  # the byte can be recovered


def test_an_event_too_deep_to_serialise_leaves_a_short_record_not_a_crash(tmp_path):
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    log = AuditLog(tmp_path / "audit.jsonl")
    log.emit({"type": "step", "step": 3, "raw": deep})
    log.emit({"type": "result", "status": "error"})
    records = read_audit_log(tmp_path / "audit.jsonl")
    assert [r["type"] for r in records] == ["step", "result"] and "RecursionError" in records[0]["unloggable"]
    assert records[0]["step"] == 3 and not log.failed


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_byte_that_is_not_utf8_in_the_notes_does_not_stop_later_starts(tmp_path, ws, runner):
    workspace, home = ws
    notes = workspace / ".locoder" / "memory_bank" / "global.md"
    notes.parent.mkdir(parents=True)
    notes.write_bytes(b"# locoder notes\n\n- 2026-01-01T00:00:00Z tests run with m\xe9ke test\n- caf\xc3\n")
    assert any("ke test" in n for n in recent_notes(StatePaths.at(workspace / ".locoder")))
    for task in ("first", "second"):
        out = locoder(workspace, home, "run", task, "-m", scripted(tmp_path, action("final_answer", answer="ok")),
                      "--sandbox", runner, "--workflow", "loop")
        assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")
    out = locoder(workspace, home, "--remember", "a new note")
    assert out.returncode == 0, out.stderr
    assert b"a new note" in notes.read_bytes() and b"m\xe9ke" in notes.read_bytes()  # nothing lost
    session = next(r for r in assert_valid_log(log_of(workspace)) if r["type"] == "session")
    assert session


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_log_line_torn_inside_a_character_is_skipped_and_the_log_goes_on(tmp_path, ws, runner):
    workspace, home = ws
    log = log_of(workspace)
    log.parent.mkdir(parents=True)
    good = json.dumps({"schema": 1, "type": "note", "text": "caf\u00e9"}, ensure_ascii=False).encode()
    torn = json.dumps({"schema": 1, "type": "torn", "text": "\u00e9\u00e9"}, ensure_ascii=False).encode()
    cut = torn[: torn.index("\u00e9".encode()) + 1]  # ends between the two bytes of é
    log.write_bytes(good + b"\n" + cut + b"\n" + good + b"\n" + cut)
    assert [r["type"] for r in read_audit_log(log)] == ["note", "note"]
    out = locoder(workspace, home, "run", "x", "-m", scripted(tmp_path, action("final_answer", answer="ok")),
                  "--sandbox", runner, "--workflow", "loop")
    assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")
    records = read_audit_log(log)
    types = [r["type"] for r in records]
    # The torn tail was ended, so the new session's first record is whole, not glued to it.
    assert types[:3] == ["note", "note", "session"] and types[-1] in ("result", "summary"), types
