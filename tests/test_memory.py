"""Persistent vector memory: recall quality with planted memories, the notes file kept in agreement
through crashes and hand edits, concurrent writers, forgetting."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from locoder.locations import StatePaths
from locoder.memory import read_notes
from locoder.memory.store import MemoryStore


@pytest.fixture(scope="module")
def embedder():
    from locoder.index.embed import MiniLMEmbedder

    return MiniLMEmbedder()


PLANTED = [
    ("note", "The tests run with `make test`, never with plain pytest."),
    ("note", "Deploys go through the staging cluster first; production needs a signed tag."),
    ("user", "Rename the config loader to load_settings and update its callers."),
    ("answer", "The flaky test was caused by a timezone assumption in parse_date; fixed with an explicit UTC."),
    ("note", "The team prefers dataclasses over attrs for new code."),
]


def planted(tmp_path, embedder) -> MemoryStore:
    store = MemoryStore(StatePaths.at(tmp_path / ".locoder"), embedder)
    for kind, text in PLANTED:
        store.add(text, kind, session="s1")
    return store


@pytest.mark.parametrize("query,expected", [
    ("how do I run the test suite?", 0),
    ("can I push this straight to production?", 1),
    ("why did the date parsing test fail sometimes?", 3),
    ("should I use attrs for this new class?", 4),
])
def test_the_right_memory_is_recalled(tmp_path, embedder, query, expected):
    store = planted(tmp_path, embedder)
    found = store.search(query, k=1, min_score=0.3)
    assert found and found[0].text == PLANTED[expected][1], [(m.text, m.score) for m in store.search(query, k=5)]


def test_unrelated_memories_stay_below_the_threshold(tmp_path, embedder):
    store = planted(tmp_path, embedder)
    assert store.search("what is the capital of Peru?", k=5, min_score=0.45) == []
    assert store.search("draw an ascii art cat", k=5, min_score=0.45) == []


def test_notes_are_stored_once_listed_exported_and_forgotten(tmp_path, embedder):
    store = planted(tmp_path, embedder)
    again = store.add(PLANTED[0][1], "note")
    assert store.count() == len(PLANTED) and again.kind == "note"
    assert [m.text for m in store.list(kind="note")][0] == PLANTED[0][1]  # refreshed: newest
    notes = [text for _, text in read_notes(StatePaths.at(tmp_path / ".locoder"))]
    assert notes == [PLANTED[0][1], PLANTED[1][1], PLANTED[4][1]]
    exported = store.export()
    assert {e["kind"] for e in exported} == {"note", "user", "answer"} and all(e["created"].endswith("Z") for e in exported)
    gone = store.forget(store.search("make test", k=1)[0].id)
    assert gone.text == PLANTED[0][1] and store.forget(10_000) is None
    assert PLANTED[0][1] not in [t for _, t in read_notes(StatePaths.at(tmp_path / ".locoder"))]
    store.close()
    reopened = MemoryStore(StatePaths.at(tmp_path / ".locoder"), embedder)
    assert reopened.count() == len(PLANTED) - 1 and PLANTED[0][1] not in [m.text for m in reopened.list()]


def test_the_notes_file_and_the_store_agree_after_a_crash_or_a_hand_edit(tmp_path, embedder):
    state = tmp_path / ".locoder"
    store = planted(tmp_path, embedder)
    forgotten = store.search("attrs or dataclasses", k=1)[0]
    store.close()
    path = state / "memory_bank" / "global.md"
    lines = path.read_text().splitlines()
    # As if killed between the two writes: the store has a note the file lacks...
    path.write_text("\n".join(line for line in lines if "staging cluster" not in line) + "\n")
    # ...a note was added by hand, and a forgotten one came back from a crash between forget's two writes.
    with path.open("a") as f:
        f.write("- 2026-11-21T10:00:00Z Releases are cut on Thursdays.\n")
    reopened = MemoryStore(StatePaths.at(state), embedder)
    reopened.forget(forgotten.id)
    with path.open("a") as f:
        f.write(f"- 2026-11-21T10:00:01Z {forgotten.text}\n")
    reopened.close()
    final = MemoryStore(StatePaths.at(state), embedder)
    stored = {m.text for m in final.list(kind="note")}
    in_file = {t for _, t in read_notes(StatePaths.at(state))}
    assert stored == in_file
    assert "Releases are cut on Thursdays." in stored and PLANTED[1][1] in stored and forgotten.text not in stored


WRITER = textwrap.dedent("""
    import sys
    from locoder.index.embed import MiniLMEmbedder
    from locoder.locations import StatePaths
    from locoder.memory.store import MemoryStore
    store = MemoryStore(StatePaths.at(sys.argv[1]), MiniLMEmbedder())
    print("ready", flush=True)
    for i in range(int(sys.argv[3])):
        store.add(f"note {sys.argv[2]}-{i}: something worth remembering number {i}", "note")
        print(i, flush=True)
""")


def test_a_kill_during_writes_leaves_a_loadable_store_that_agrees_with_the_notes(tmp_path, embedder):
    state = tmp_path / ".locoder"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(state), "k", "200"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    for _ in range(5):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = MemoryStore(StatePaths.at(state), embedder)
    notes = store.list(kind="note", limit=1000)
    assert len(notes) >= 5
    assert {m.text for m in notes} == {t for _, t in read_notes(StatePaths.at(state))}


def test_concurrent_sessions_do_not_corrupt_the_store(tmp_path, embedder):
    state = tmp_path / ".locoder"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(state), name, "8"], stdout=subprocess.DEVNULL)
             for name in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=240) == 0
    store = MemoryStore(StatePaths.at(state), embedder)
    notes = [t for _, t in read_notes(StatePaths.at(state))]
    assert store.count() == 16 and len(notes) == 16 and len(set(notes)) == 16


def test_an_unreadable_store_is_kept_aside_and_started_afresh(tmp_path, embedder):
    state = tmp_path / ".locoder"
    (state / "memory").mkdir(parents=True)
    (state / "memory" / "memory.db").write_bytes(b"garbage" * 1000)
    store = MemoryStore(StatePaths.at(state), embedder)
    store.add("fresh start", "user")
    assert "unreadable" in store.note and "kept as memory.db.unreadable-" in store.note and store.count() == 1
    assert any(p.name.startswith("memory.db.unreadable-") for p in (state / "memory").iterdir())
