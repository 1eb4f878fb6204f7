"""The code index: golden outlines per language, search on a real repository, incremental updates,
recovery from a corrupt index, the numpy embedder against the reference, the commands and the tools."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.index import commands
from locoder.index.chunks import chunk_file
from locoder.index.lexical import BM25, tokenize
from locoder.index.search import SearchError, build_vectors, search
from locoder.index.store import SCHEMA, CodeIndex

FIXTURES = Path(__file__).parent / "fixtures" / "code"
PROJECT = Path(__file__).resolve().parent.parent


def test_outlines_match_the_golden_ones_in_every_language():
    golden = json.loads((FIXTURES.parent / "code_outlines.json").read_text())
    assert {Path(name).suffix for name in golden} >= {".py", ".js", ".ts", ".go", ".rs", ".java"}
    for name, expected in golden.items():
        got = [[c.kind, c.qualname, c.start, c.end, c.signature, c.doc]
               for c in chunk_file(name, (FIXTURES / name).read_bytes())]
        assert got == expected, name


def test_long_definitions_are_cut_into_parts_headed_by_their_signature():
    body = "\n".join(f"    x{i} = {i}" for i in range(200))
    chunks = chunk_file("big.py", f"def big(a, b):\n{body}\n    return a\n".encode())
    assert len(chunks) >= 3 and all(c.qualname == "big" for c in chunks)
    assert chunks[1].text.startswith("def big(a, b)") and max(c.end - c.start for c in chunks) < 80


def test_other_files_are_windows_of_lines():
    chunks = chunk_file("notes.md", "\n".join(f"line {i}" for i in range(100)).encode())
    assert [(c.start, c.end, c.kind) for c in chunks] == [(1, 40, "text"), (41, 80, "text"), (81, 100, "text")]


def test_tokens_split_identifiers_in_every_style():
    assert {"parse", "http", "response", "parsehttpresponse"} <= set(tokenize("parseHTTPResponse"))
    assert {"parse", "http", "response", "parse_http_response"} <= set(tokenize("parse_http_response"))
    bm25 = BM25.build([tokenize("def load_config(path)"), tokenize("def save_items(items)"), tokenize("x = 1")])
    assert [doc for doc, _ in bm25.search("load config")] == [0]


@pytest.fixture
def project(tmp_path):
    """A real repository: locoder's own, cloned into a temporary folder."""
    target = tmp_path / "locoder"
    proc = subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{PROJECT}", str(target)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot clone the project: {proc.stderr.strip()}")
    return target


def test_search_on_a_real_repository(project):
    index = CodeIndex(project)
    stats = index.update()
    assert stats.files > 50 and stats.chunks > 500 and not stats.rebuilt
    # This test file holds the queries too: its own hits are left out.
    def found(query):
        return [h for h in search(index, query, k=10, mode="lexical") if not h.path.startswith("tests/")]

    hits = found("apply landlock rules to the process then exec")
    assert any(h.path == "src/locoder/sandbox/landlock.py" for h in hits[:3]), [h.path for h in hits]
    hits = found("write a file atomically with a rename")
    assert ("src/locoder/atomic.py", "write_atomic") in [(h.path, h.qualname) for h in hits[:3]], hits[:3]
    paths = {r["path"] for r in index.files()}
    assert "README.md" in paths and not any(p.startswith((".git/", ".locoder/")) for p in paths)
    outline = commands.do_codectx(project, "src/locoder/atomic.py")
    assert [d["name"] for d in outline["definitions"]] == ["new_file_mode", "write_atomic"]
    assert "src/locoder/tools/paths.py" in outline["used_by"]
    index.close()


def _repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("ignored/\n*.log\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "secret.py").write_text("def hidden(): pass\n")
    (repo / "debug.log").write_text("noise\n")
    (repo / "node_modules" / "lib").mkdir(parents=True)
    (repo / "node_modules" / "lib" / "index.js").write_text("function vendored() {}\n")
    (repo / "blob.dat").write_bytes(b"\0\1\2" * 100)
    (repo / "huge.txt").write_text("x" * 1_200_000)
    return repo


def test_ignored_vendored_binary_and_huge_files_stay_out(tmp_path):
    repo = _repo(tmp_path)
    index = CodeIndex(repo)
    index.update()
    paths = {r["path"] for r in index.files()}
    assert paths == {".gitignore", "Greeter.java", "cart.js", "inventory.py", "point.go", "shapes.ts", "stack.rs"}


def test_reindexing_after_a_one_file_change_touches_only_that_file(tmp_path):
    repo = _repo(tmp_path)
    index = CodeIndex(repo)
    first = index.update()
    assert len(first.added) == 7
    before = {r["id"]: (r["path"], r["text"]) for r in index.chunks()}
    generation = index.generation
    again = index.update()
    assert (again.added, again.changed, again.removed, again.unchanged) == ([], [], [], 7)
    assert index.generation == generation
    (repo / "inventory.py").write_text((repo / "inventory.py").read_text().replace("TAX_RATE = 0.2", "TAX_RATE = 0.25"))
    os.utime(repo / "cart.js")  # touched, same content: re-hashed, not re-chunked
    (repo / "point.go").unlink()
    changed = index.update()
    assert changed.changed == ["inventory.py"] and changed.removed == ["point.go"] and changed.unchanged == 5
    after = {r["id"]: (r["path"], r["text"]) for r in index.chunks()}
    kept = {cid: v for cid, v in before.items() if v[0] not in ("inventory.py", "point.go")}
    assert all(after[cid] == v for cid, v in kept.items()), "chunks of unchanged files were rewritten"
    assert index.generation == generation + 1
    index.close()


def test_a_corrupt_or_outdated_index_is_rebuilt(tmp_path):
    repo = _repo(tmp_path)
    index = CodeIndex(repo)
    index.update()
    index.close()
    (repo / ".locoder" / "index" / "index.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{repo}/.locoder/index/index.db{suffix}").unlink(missing_ok=True)
    index = CodeIndex(repo)
    stats = index.update()
    assert "made afresh" in stats.rebuilt and "unreadable" in stats.rebuilt and stats.files == 7
    index.db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    index.db.commit()
    index.close()
    index = CodeIndex(repo)
    stats = index.update()
    assert f"schema changed (0 -> {SCHEMA})" in stats.rebuilt and stats.files == 7
    # A broken BM25 cache is rebuilt silently.
    (repo / ".locoder" / "index" / "bm25.pickle").write_bytes(b"garbage")
    assert search(index, "restock", k=1, mode="lexical")[0].qualname == "restock"


def test_empty_query_and_bad_regex_are_clear_errors(tmp_path):
    repo = _repo(tmp_path)
    with pytest.raises(SearchError, match="empty"):
        commands.do_search(repo, "  ", mode="lexical")
    with pytest.raises(SearchError, match="invalid pattern"):
        commands.do_grep(repo, "(unclosed")


# -- embeddings ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedder():
    return commands.embedder()


def test_the_tokenizer_matches_the_reference(embedder):
    tokenizers = pytest.importorskip("tokenizers")
    from locoder.index.embed import model_folder

    reference = tokenizers.Tokenizer.from_file(str(model_folder() / "tokenizer.json"))
    reference.no_padding()
    reference.enable_truncation(256)
    samples = ["def parse_http_response(raw: bytes) -> Response:", "Héllo wörld! naïve café",
               "x = {'a': [1,2,3]}  # comment", "日本語 and emoji 🎉 and ﬁ ligature", "CamelCaseIdentifier.method()",
               "word " * 400, "\t\x00control\u200bchars"]
    for text in samples:
        assert embedder.tokenizer.encode(text) == reference.encode(text).ids, text


def test_vectors_match_the_reference_model(embedder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from locoder.index.embed import model_folder

    texts = ["def add(a, b): return a + b", "How do I read a JSON file?", "class Stack: push and pop"]
    folder = str(model_folder())
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder)
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    got = embedder.embed(texts)
    assert got.shape == (3, 384)
    assert (got * ref).sum(1).min() > 0.9999


def test_vector_and_hybrid_search_and_incremental_embeddings(tmp_path, embedder):
    repo = _repo(tmp_path)
    index = CodeIndex(repo)
    index.update()
    made = build_vectors(index, embedder)
    assert made > 20 and index.missing_vectors() == [] and index.vector_count() == made
    hits = search(index, "add tax to the price of a product", k=3, mode="vector", embedder=embedder)
    assert hits[0].qualname == "Item.with_tax", [h.qualname for h in hits]
    hybrid = search(index, "sum of prices in the shopping cart", k=3, mode="hybrid", embedder=embedder)
    assert hybrid[0].qualname == "total" and hybrid[0].lexical_rank and hybrid[0].vector_rank
    (repo / "cart.js").write_text((repo / "cart.js").read_text().replace("pct / 100", "pct / 1000"))
    index.update()
    assert build_vectors(index, embedder) == 1, "only the changed chunk is embedded again"
    index.close()


# -- the commands and the tools --------------------------------------------------------------------------
def locoder(*args, cwd):
    return subprocess.run([sys.executable, "-m", "locoder", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_commands_print_text_and_json(tmp_path):
    repo = _repo(tmp_path)
    out = locoder("index", "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["files"] == 7
    assert "7 files" in locoder("index", cwd=repo).stdout
    found = json.loads(locoder("esearch", "--q", "restock items", "--mode", "lexical", "--json", cwd=repo).stdout)
    assert found["hits"][0]["name"] == "restock" and found["hits"][0]["path"] == "inventory.py"
    text = locoder("esearch", "--q", "restock items", "--mode", "lexical", cwd=repo).stdout
    assert "inventory.py:31-32 function restock" in text
    grep = locoder("grep", "TAX_RATE", "--glob", "*.py", cwd=repo).stdout
    assert "inventory.py:6:TAX_RATE = 0.2" in grep
    outline = locoder("codectx", "inventory.py", cwd=repo).stdout
    assert "16-18 def with_tax(self) -> float  # Price including tax." in outline
    tree = locoder("tree", cwd=repo).stdout.split()
    assert "inventory.py" in tree and "node_modules/" not in tree
    bad = locoder("grep", "(", cwd=repo)
    assert bad.returncode != 0 and "invalid pattern" in bad.stderr


def test_the_agent_tools_search_and_outline(tmp_path, embedder):
    from locoder.messages import ToolCall
    from locoder.tools import ToolBox, ToolContext, all_tools

    repo = _repo(tmp_path)
    box = ToolBox(all_tools(), ToolContext(workspace=repo))
    # Before embeddings exist: BM25 alone, words must match.
    found = box.execute(ToolCall("search_code", {"query": "greeter says hi"}))
    assert found.ok and found.output.startswith("Greeter.java:6-7 method Greeter.hi"), found.output
    assert "Greeter.java" not in box.execute(ToolCall("search_code", {"query": "saying hello to a person"})).output
    # Once built, meaning counts too.
    index = CodeIndex(repo)
    build_vectors(index, embedder)
    index.close()
    found = box.execute(ToolCall("search_code", {"query": "saying hello to a person", "max_results": 3}))
    assert "Greeter.java" in found.output, found.output
    outline = box.execute(ToolCall("code_outline", {"path": "stack.rs"}))
    assert outline.ok and "pub fn push(&mut self, t: T)" in outline.output
    outside = box.execute(ToolCall("code_outline", {"path": "../x.py"}))
    assert not outside.ok and "outside the workspace" in outside.output


# -- the repo map -----------------------------------------------------------------------------------------
def test_the_repo_map_ranks_used_code_first_and_leans_to_the_task(tmp_path):
    from locoder.index.repomap import map_for_task, repo_map

    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "pricing.py").write_text("def compute_total_price(items):\n    return sum(items)\n")
    for name in ("orders", "invoices", "reports"):
        (repo / f"{name}.py").write_text(f"from pricing import compute_total_price\n\n"
                                         f"def make_{name}(items):\n    return compute_total_price(items)\n")
    (repo / "lonely.py").write_text("def unused_helper_function():\n    pass\n")
    index = CodeIndex(repo)
    index.update()
    entries = repo_map(index, "", 1000)
    rank = {e.path: e.rank for e in entries}
    assert entries[0].path == "pricing.py" and rank["pricing.py"] > 2 * rank["orders.py"], rank
    assert rank["lonely.py"] == min(rank.values())
    assert repo_map(index, "why does unused_helper_function exist?", 1000)[0].path == "lonely.py"
    assert repo_map(index, "speed up lonely.py", 1000)[0].path == "lonely.py"
    small = repo_map(index, "", 15)
    assert len(small) == 1 and small[0].definitions == [(1, "def compute_total_price(items)")]
    index.close()
    text = map_for_task(repo, "", 1000)
    assert text.startswith("Repository map") and "orders.py:\n     3 def make_orders(items)" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert map_for_task(empty, "anything", 1000) == ""


def test_the_agent_gets_the_map_with_each_task_and_not_in_the_system_prompt(tmp_path, repo, isolated_env):
    from conftest import action
    from locoder.agent.factory import build_agent
    from locoder.config import load_settings

    replies = tmp_path / "r.json"
    replies.write_text(json.dumps([action("final_answer", answer="ok")] * 2))
    settings = load_settings({"workspace": str(repo), "model": f"scripted:{replies}"}, env={})
    agent = build_agent(settings)
    agent.run("what does scale in calc.py do?")
    assert "Repository map" not in agent.messages[0].content
    task = agent.messages[1].content
    assert task.startswith("what does scale in calc.py do?\n\nRepository map") and "def scale(x)" in task
    off = build_agent(load_settings({"workspace": str(repo), "model": f"scripted:{replies}", "repo_map_tokens": 0,
                                     "memory": False},
                                    env={}))
    off.run("what does scale do?")
    assert off.messages[1].content == "what does scale do?"
