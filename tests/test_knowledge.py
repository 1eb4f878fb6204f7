"""Docs, context7, the per-task context and intel: a context7 server on 127.0.0.1 that follows the
documented API, real documents cut at headings, the real embedder, and the scripted model for the loop."""

import json
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import action
from locoder.agent.factory import build_agent
from locoder.config import load_settings
from locoder.knowledge.context7 import Context7Client, Context7Error

LIBRARIES = {"results": [
    {"id": "/acme/widgets", "title": "Widgets", "description": "Widget toolkit", "totalSnippets": 12},
    {"id": "/acme/gadgets", "title": "Gadgets", "description": "Gadget toolkit", "totalSnippets": 3},
]}
WIDGET_DOCS = "\n".join([
    "TITLE: Creating a widget", "DESCRIPTION: Call widgets.make(name, size=3) to create a widget; size is in cm.",
    "-" * 40,
    "TITLE: Painting", "DESCRIPTION: widget.paint(color) repaints it; colors are CSS names. " + "Long text. " * 60,
    "-" * 40,
    "TITLE: Creating a widget", "DESCRIPTION: Call widgets.make(name, size=3) to create a widget; size is in cm.",
])


class Context7Server:
    """GET /v1/search?query=Q and GET /v1/{org}/{project}?type=txt&tokens=N&topic=T, with a bearer key."""

    def __init__(self, key="c7-test-key", status=200):
        self.requests, self.key, self.status = [], key, status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.requests.append((url.path, query, self.headers.get("authorization")))
                if outer.status != 200:
                    return self._send(outer.status, "application/json", b'{"error": "nope"}')
                if self.headers.get("authorization") != f"Bearer {outer.key}":
                    return self._send(401, "application/json", b'{"error": "unauthorized"}')
                if url.path == "/api/v1/search":
                    return self._send(200, "application/json", json.dumps(LIBRARIES).encode())
                if url.path == "/api/v1/acme/widgets" and query.get("type") == "txt":
                    return self._send(200, "text/plain", WIDGET_DOCS.encode())
                return self._send(404, "application/json", b'{"error": "not found"}')

            def _send(self, status, kind, body):
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def c7():
    server = Context7Server()
    yield server
    server.close()


def test_the_context7_client_searches_and_fetches_docs(c7):
    client = Context7Client(c7.url, "c7-test-key")
    assert [lib.id for lib in client.search("widgets")] == ["/acme/widgets", "/acme/gadgets"]
    snippets = client.docs("/acme/widgets", topic="create", tokens=500)
    assert len(snippets) == 3 and snippets[0].startswith("TITLE: Creating a widget")
    path, query, auth = c7.requests[-1]
    assert path == "/api/v1/acme/widgets" and query == {"type": "txt", "tokens": "500", "topic": "create"}
    assert auth == "Bearer c7-test-key"


def test_context7_failures_are_clear_messages(c7):
    with pytest.raises(Context7Error, match="not configured"):
        Context7Client("")
    with pytest.raises(Context7Error, match="CONTEXT7_API_KEY"):
        Context7Client(c7.url, "wrong").search("widgets")
    with pytest.raises(Context7Error, match="404"):
        Context7Client(c7.url, "c7-test-key").docs("/nobody/nothing")
    with pytest.raises(Context7Error, match="unreachable"):
        Context7Client("http://127.0.0.1:9/api").search("x")
    busy = Context7Server(status=429)
    try:
        with pytest.raises(Context7Error, match="rate limit"):
            Context7Client(busy.url).search("x")
    finally:
        busy.close()


def test_the_tool_dedupes_and_truncates_context7_passages(c7, tmp_path, repo, isolated_env):
    from locoder.messages import ToolCall

    replies = tmp_path / "r.json"
    replies.write_text(json.dumps([action("final_answer", answer="ok")]))
    settings = load_settings({"workspace": str(repo), "model": f"scripted:{replies}", "toolset": "all",
                              "context7_chars": 120}, env={"CONTEXT7_URL": c7.url, "CONTEXT7_API_KEY": "c7-test-key"})
    agent = build_agent(settings)
    out = agent.toolbox.execute(ToolCall("call_context7", {"library": "widgets", "topic": "create a widget"})).output
    lines = out.splitlines()
    assert len(lines) == 2, out  # the third snippet repeats the first
    assert lines[0].startswith("[context7 /acme/widgets] TITLE: Creating a widget")
    assert all(len(line) <= len("[context7 /acme/widgets] ") + 120 for line in lines)
    assert "c7-test-key" not in json.dumps(settings.dump())
    unset = build_agent(load_settings({"workspace": str(repo), "model": f"scripted:{replies}", "toolset": "all"},
                                      env={}))
    assert "not configured" in unset.toolbox.execute(ToolCall("call_context7", {"library": "widgets"})).output


DOCS = {
    "docs/deploy.md": "# Deploying\n\nIntro.\n\n## Staging\n\nEvery release goes to the staging cluster first, "
                      "with `make deploy-staging`. Production needs a signed git tag.\n\n## Rollback\n\n"
                      "Run `make rollback` to return to the previous release.\n",
    "docs/api.rst": "API\n===\n\nThe HTTP API.\n\nAuthentication\n--------------\n\nSend the token in the "
                    "X-Shop-Token header; tokens expire after 24 hours.\n",
    "README.md": "# Shop\n\nA small shop backend.\n",
}


@pytest.fixture
def documented(repo):
    for rel, text in DOCS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return repo


def session_for(tmp_path, repo, replies, **settings):
    from locoder.agent.session import open_session

    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    return open_session(load_settings({"workspace": str(repo), "model": f"scripted:{path}", **settings}, env={}))


def agent_for(tmp_path, repo, replies, **settings):
    return session_for(tmp_path, repo, replies, **settings).router


def test_docs_lookup_cites_the_section(tmp_path, documented, isolated_env):
    from locoder.messages import ToolCall

    agent = agent_for(tmp_path, documented, [action("final_answer", answer="ok")], toolset="all")
    out = agent.toolbox.execute(ToolCall("docs_lookup", {"query": "how do I undo a bad release?"})).output
    assert out.startswith("[docs/deploy.md#Deploying > Rollback (line 9)]"), out
    out = agent.toolbox.execute(ToolCall("docs_lookup", {"query": "which header carries the auth token"})).output
    assert out.startswith("[docs/api.rst#API > Authentication (line 6)]"), out


def test_each_task_gets_relevant_memories_and_docs_within_their_shares(tmp_path, documented, isolated_env):
    session = session_for(tmp_path, documented, [action("final_answer", answer="done")] * 3,
                          memory_tokens=60, docs_tokens=100, repo_map_tokens=80)
    agent, knowledge = session.router, session.knowledge
    knowledge.remember("Deploys must be announced in the #releases channel before they start.")
    knowledge.store.add("Unrelated: the office coffee machine is on the third floor.", "note")
    agent.run("deploy the new release to staging")
    message = agent.messages[1].content
    extra = message.split("\n\n", 1)[1]
    assert "Past context from earlier sessions, for reference only (the task above is the one to do):\n- [note, " in extra and "#releases channel" in extra
    assert "coffee" not in extra, "an unrelated memory was injected"
    assert "Relevant documentation, for reference (not tools you can call):\n- docs/deploy.md#Deploying > Staging" in extra
    memories, docs, repo_map = extra.split("\n\n")
    assert len(memories) <= 60 * 4 and len(docs) <= 100 * 4 and len(repo_map) <= 80 * 4 + 200
    # The task and the answer are remembered for later sessions.
    kinds = {(m.kind, m.text) for m in knowledge.store.list()}
    assert ("user", "deploy the new release to staging") in kinds and ("answer", "done") in kinds


def test_nothing_is_injected_when_nothing_is_relevant(tmp_path, documented, isolated_env):
    session = session_for(tmp_path, documented, [action("final_answer", answer="ok")], repo_map_tokens=0)
    agent = session.router
    session.knowledge.remember("Deploys must be announced in the #releases channel.")
    agent.run("write a haiku about autumn leaves")
    assert agent.messages[1].content == "write a haiku about autumn leaves"


def test_context7_is_asked_only_when_local_sources_have_nothing(tmp_path, documented, isolated_env, c7):
    env = {"CONTEXT7_URL": c7.url, "CONTEXT7_API_KEY": "c7-test-key"}
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([action("final_answer", answer="ok")] * 2))
    settings = load_settings({"workspace": str(documented), "model": f"scripted:{path}", "repo_map_tokens": 0,
                              "docs_min_score": 0.5}, env=env)
    agent = build_agent(settings)
    agent.run("how do I create a widget with the widgets library?")
    assert "context7 /acme/widgets" in agent.messages[1].content and c7.requests
    asked = len(c7.requests)
    agent.run("how do I roll back a bad release?")
    assert len(c7.requests) == asked, "context7 was asked although the local docs answered"
    second = next(m.content for m in agent.messages if m.content.startswith("how do I roll back"))
    assert "docs/deploy.md#Deploying > Rollback" in second


def test_the_memory_and_intel_commands(tmp_path, documented, isolated_env):
    def locoder(*args):
        proc = subprocess.run([sys.executable, "-m", "locoder", *args, "-w", str(documented)], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "memory #1" in locoder("--remember", "Rollbacks need a ticket in the ops tracker.")
    listed = json.loads(locoder("memory", "list", "--json"))
    assert [m["text"] for m in listed] == ["Rollbacks need a ticket in the ops tracker."]
    assert "0." in locoder("memory", "search", "what do I need before a rollback")
    result = json.loads(locoder("intel", "--query", "how do I roll back a release?", "--no-model", "--json"))
    cites = [e["cite"] for e in result["evidence"]]
    assert cites[0].startswith(("docs/deploy.md#Deploying > Rollback", "memory #1")), cites
    assert any(c.startswith("memory #1") for c in cites) and any(c.startswith("docs/deploy.md") for c in cites)
    assert "forgot #1" in locoder("memory", "forget", "1")
    assert json.loads(locoder("memory", "export")) == []
    assert "Rollbacks" not in (documented / ".locoder" / "memory_bank" / "global.md").read_text()


def test_intel_answers_with_a_model_and_keeps_its_citations(tmp_path, documented, isolated_env):
    from locoder.knowledge.gather import gather
    from locoder.knowledge.intel import answer_with, cited_numbers
    from locoder.models.scripted import ScriptedModel

    evidence, notes = gather(documented, "how do I roll back a release?", docs_dirs=("docs",),
                             embedder=__import__("locoder.index.embed", fromlist=["x"]).LazyEmbedder())
    assert evidence and not notes
    model = ScriptedModel(["Run make rollback [1]; see also [9]."])
    answer = answer_with(model, "how do I roll back a release?", evidence)
    assert answer == "Run make rollback [1]; see also [9]." and cited_numbers(answer, len(evidence)) == [1]


def test_the_memory_can_live_elsewhere(tmp_path, repo, isolated_env):
    elsewhere = tmp_path / "vectors"
    proc = subprocess.run([sys.executable, "-m", "locoder", "--remember", "Keep the changelog current.",
                           "-w", str(repo), "--memory-vector-dir", str(elsewhere)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (elsewhere / "memory.db").is_file() and not (repo / ".locoder" / "memory").exists()
    assert "Keep the changelog current." in (repo / ".locoder" / "memory_bank" / "global.md").read_text()
