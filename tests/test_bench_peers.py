"""The benchmark's peer agents: the counting proxy (against a fake upstream and once against the real server),
the command lines each runner builds, installation bookkeeping, the repository-proof git diff, and one real
run of each peer on a tiny bug-fix task (e2e; skipped when the peer is not installed: ``scripts/test`` installs
them)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from fakeserver import FakeServer
from locoder.bench.peers import (
    PeerCommand,
    PeerError,
    aider_command,
    ensure_peer,
    git_diff_stat,
    git_head,
    installed_peer,
    model_metadata,
    mswea_command,
    peer_environment,
    peer_finish,
    run_aider,
    run_mini_swe_agent,
)
from locoder.bench.proxy import CountingProxy, prepare_body
from locoder.sandbox import SandboxPolicy
from locoder.sandbox.runners import resolve_runner

REAL_SERVER = os.environ.get("LOCODER_BENCH_SERVER", "http://127.0.0.1:8765/v1")
MODEL = "qwen2.5-coder-1.5b-instruct"


def completion(text: str = "hi", prompt: int = 11, done: int = 3) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": done,
                                 "prompt_tokens_details": {"cached_tokens": 4}}}).encode()


def sse(*chunks: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


DELTAS = ({"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
          {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]})
USAGE_CHUNK = {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 2}}


@pytest.fixture
def upstream():
    server = FakeServer()
    yield server
    server.close()


def test_proxy_counts_plain_requests_and_forwards_everything_else(upstream):
    upstream.model_list = None  # the listing is forwarded from the queue like any other request
    upstream.answers += [(200, "application/json", completion(prompt=11, done=3)),
                         (200, "application/json", completion(prompt=30, done=5)),
                         (200, "application/json", b'{"data": [{"id": "m"}]}')]
    with CountingProxy(upstream.url) as proxy:
        assert proxy.base_url.endswith("/v1") and proxy.base_url != upstream.url
        for _ in range(2):
            reply = httpx.post(proxy.base_url + "/chat/completions", json={"model": "m", "messages": []},
                               headers={"authorization": "Bearer k"})
            assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "hi"
        assert httpx.get(proxy.base_url + "/models").json() == {"data": [{"id": "m"}]}
        totals = proxy.totals()
    assert (totals.requests, totals.prompt_tokens, totals.completion_tokens, totals.cached_tokens) == (2, 41, 8, 8)
    assert totals.other_requests == 1 and totals.failed == 0 and totals.unmetered == 0
    assert [r["path"] for r in upstream.requests] == ["/v1/chat/completions"] * 2 + ["/v1/models"]
    assert upstream.requests[0]["auth"] == "Bearer k"
    assert "stream_options" not in upstream.requests[0]["body"]


def test_proxy_asks_a_stream_for_usage_and_hides_the_chunk_it_asked_for(upstream):
    upstream.answers.append((200, "text/event-stream", sse(*DELTAS, USAGE_CHUNK)))
    with CountingProxy(upstream.url) as proxy:
        with httpx.stream("POST", proxy.base_url + "/chat/completions",
                          json={"model": "m", "messages": [], "stream": True}) as reply:
            events = [line for line in reply.iter_lines() if line.startswith("data:")]
        totals = proxy.totals()
    assert upstream.requests[0]["body"]["stream_options"] == {"include_usage": True}
    assert events[-1] == "data: [DONE]" and len(events) == 3  # the two deltas, [DONE]; no usage-only chunk
    assert (totals.requests, totals.prompt_tokens, totals.completion_tokens) == (1, 20, 2)


def test_proxy_keeps_the_usage_chunk_for_a_client_that_asked(upstream):
    upstream.answers.append((200, "text/event-stream", sse(*DELTAS, USAGE_CHUNK)))
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    with CountingProxy(upstream.url) as proxy:
        text = httpx.post(proxy.base_url + "/chat/completions", json=body).text
        totals = proxy.totals()
    assert '"usage"' in text and text.endswith("data: [DONE]\n\n")
    assert (totals.prompt_tokens, totals.completion_tokens) == (20, 2)


def test_proxy_counts_a_stream_cut_by_a_killed_client_from_its_chunks():
    """A peer killed at its timeout hangs up mid-stream, before the server's usage: the request is counted as
    failed once the proxy sees the hang-up (``settle``), its generated tokens as the chunks relayed."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stop = threading.Event()

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            try:
                while not stop.is_set():  # a model that never stops generating
                    self.wfile.write(b"data: " + json.dumps(DELTAS[0]).encode() + b"\n\n")
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.handle_error = lambda request, client_address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with CountingProxy(f"http://127.0.0.1:{server.server_address[1]}/v1") as proxy:
            seen = 0
            with httpx.stream("POST", proxy.base_url + "/chat/completions",
                              json={"model": "m", "messages": [], "stream": True}) as reply:
                for line in reply.iter_lines():
                    seen += line.startswith("data:")
                    if seen == 5:
                        break  # the client goes away, as a killed peer does
            totals = proxy.totals(settle=10.0)
    finally:
        stop.set()
        server.shutdown()
    assert (totals.requests, totals.failed, totals.estimated) == (1, 1, 1)
    assert totals.completion_tokens >= 5 and totals.prompt_tokens == 0


def test_stream_request_body_rewriting_is_a_pure_function():
    raw = json.dumps({"stream": True, "stream_options": {"other": 1}}).encode()
    body, streaming, injected = prepare_body(raw)
    assert streaming and injected and json.loads(body)["stream_options"] == {"other": 1, "include_usage": True}
    assert prepare_body(b'{"stream": false}') == (b'{"stream": false}', False, False)
    assert prepare_body(b"not json") == (b"not json", False, False)


def test_proxy_passes_upstream_errors_through(upstream):
    error = b'{"error": {"message": "context length exceeded", "code": 400}}'
    upstream.answers.append((400, "application/json", error))
    with CountingProxy(upstream.url) as proxy:
        reply = httpx.post(proxy.base_url + "/chat/completions", json={"messages": []})
        totals = proxy.totals()
    assert reply.status_code == 400 and reply.content == error
    assert (totals.requests, totals.failed, totals.prompt_tokens) == (1, 1, 0)


def test_proxy_answers_502_when_the_upstream_is_down():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with CountingProxy(f"http://127.0.0.1:{port}/v1") as proxy:
        reply = httpx.post(proxy.base_url + "/chat/completions", json={"messages": []})
        totals = proxy.totals()
    assert reply.status_code == 502
    assert f"127.0.0.1:{port} unreachable" in reply.json()["error"]["message"]
    assert (totals.requests, totals.failed) == (1, 1)


def test_proxy_counts_a_response_without_usage_as_unmetered(upstream):
    upstream.answers.append((200, "application/json", b'{"choices": []}'))
    with CountingProxy(upstream.url) as proxy:
        httpx.post(proxy.base_url + "/completions", json={"prompt": "x"})
        totals = proxy.totals()
    assert (totals.requests, totals.unmetered, totals.prompt_tokens) == (1, 1, 0)


def real_server_up() -> bool:
    try:
        return httpx.get(REAL_SERVER + "/models", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.e2e
@pytest.mark.skipif(not real_server_up(), reason=f"no model server at {REAL_SERVER}")
def test_proxy_against_the_real_server():
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4, "stream": True}
    with CountingProxy(REAL_SERVER) as proxy:
        with httpx.stream("POST", proxy.base_url + "/chat/completions", json=body, timeout=600) as reply:
            text = "".join(reply.iter_text())
        totals = proxy.totals()
    assert reply.status_code == 200 and "data: [DONE]" in text and '"usage"' not in text
    assert totals.requests == 1 and totals.prompt_tokens > 0 and 0 < totals.completion_tokens <= 4


def test_aider_command_is_offline_unattended_and_uses_the_given_server():
    command = aider_command("/peers/aider/bin/aider", "fix it", "http://127.0.0.1:9/v1", "qwen",
                            metadata_file="/peers/meta.json", test_cmd="python -m pytest -q", request_timeout=300)
    argv = command.argv
    assert argv[0] == "/peers/aider/bin/aider" and argv[-2:] == ["--message", "fix it"]
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--model"] == "openai/qwen" and pairs["--openai-api-base"] == "http://127.0.0.1:9/v1"
    assert pairs["--model-metadata-file"] == "/peers/meta.json" and pairs["--edit-format"] == "whole"
    assert pairs["--test-cmd"] == "python -m pytest -q" and "--auto-test" in argv and pairs["--timeout"] == "300"
    for flag in ("--no-check-update", "--analytics-disable", "--no-show-release-notes", "--no-show-model-warnings",
                 "--no-gitignore", "--no-auto-commits", "--no-dirty-commits", "--yes-always", "--no-pretty",
                 "--no-detect-urls"):
        assert flag in argv
    assert "--map-tokens" not in argv  # aider sizes its repo map from the window in the metadata
    assert command.env == {"OPENAI_API_KEY": "none", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    plain = aider_command("aider", "t", "u", "m", metadata_file="f", edit_format="diff", map_tokens=0).argv
    assert "--test-cmd" not in plain and "--auto-test" not in plain
    assert dict(zip(plain, plain[1:]))["--edit-format"] == "diff" and dict(zip(plain, plain[1:]))["--map-tokens"] == "0"


def test_mswea_command_is_text_mode_yolo_and_bounded():
    command = mswea_command("/peers/m/bin/mini", "fix it", "http://127.0.0.1:9/v1", "qwen",
                            config="/pkg/mini_textbased.yaml", step_limit=12, wall_seconds=600,
                            registry_file="/peers/meta.json")
    argv = command.argv
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert configs == ["/pkg/mini_textbased.yaml", "model.model_kwargs.api_base=http://127.0.0.1:9/v1",
                       "agent.step_limit=12", "agent.wall_time_limit_seconds=600",
                       "model.litellm_model_registry=/peers/meta.json"]
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--model"] == "openai/qwen" and pairs["--model-class"] == "litellm_textbased"
    assert pairs["--cost-limit"] == "0" and "--yolo" in argv and "--exit-immediately" in argv
    assert argv[-2:] == ["--task", "fix it"]
    assert command.env["MSWEA_CONFIGURED"] == "true" and command.env["MSWEA_COST_TRACKING"] == "ignore_errors"
    assert command.env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_model_metadata_gives_the_real_window_and_no_price():
    entry = model_metadata("qwen", 8192)["openai/qwen"]
    assert entry["max_input_tokens"] == 8192 and entry["input_cost_per_token"] == 0.0
    assert entry["litellm_provider"] == "openai" and entry["mode"] == "chat"


def test_peer_environment_drops_the_users_peer_settings_and_puts_the_peer_last_on_path():
    command = PeerCommand(["x"], {"OPENAI_API_KEY": "none"})
    env = peer_environment(command, Path("/peers/a/bin"), base={
        "PATH": "/usr/bin", "AIDER_MODEL": "gpt-4", "OPENAI_API_BASE": "https://api.openai.com",
        "MSWEA_MODEL_NAME": "claude", "LANG": "C.UTF-8"})
    assert env == {"PATH": "/usr/bin:/peers/a/bin", "LANG": "C.UTF-8", "OPENAI_API_KEY": "none"}


def test_peer_finish_reads_how_each_peer_stopped():
    assert peer_finish("mini-swe-agent", "step 15\n\nExit:\nLimitsExceeded\nSaved trajectory to 'x'\n") == \
        "LimitsExceeded"
    assert peer_finish("mini-swe-agent", "Exit:\n\nSubmitted\n") == "Submitted"
    assert peer_finish("mini-swe-agent", "Traceback ...\n") == "unknown"
    assert peer_finish("aider", "Added 24 lines of output to the chat.\nOnly 3 reflections allowed, stopping.\n") == \
        "reflections_exhausted"
    assert peer_finish("aider", "Applied edit to mathutil.py\n") == "done"


def test_installed_peer_needs_a_finished_install(tmp_path):
    assert installed_peer("aider", tmp_path) is None
    root = tmp_path / "aider-0.86.2"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "aider").write_text("#!/bin/sh\n")
    assert installed_peer("aider", tmp_path) is None  # no stamp: pip did not finish
    (root / ".locoder-installed").write_text(json.dumps({"package": "aider-chat", "version": "0.86.1"}))
    assert installed_peer("aider", tmp_path) is None  # another version
    (root / ".locoder-installed").write_text(json.dumps({"package": "aider-chat", "version": "0.86.2"}))
    assert installed_peer("aider", tmp_path) == root / "bin" / "aider"
    assert ensure_peer("aider", tmp_path) == root / "bin" / "aider"  # installed: nothing is run


def test_ensure_peer_reports_a_failed_install_and_leaves_nothing_half_done(tmp_path):
    with pytest.raises(PeerError, match=r"installing mini-swe-agent==2\.4\.6 failed .*full log"):
        ensure_peer("mini-swe-agent", tmp_path, python="/bin/false")
    assert not (tmp_path / "mini-swe-agent-2.4.6").exists()
    with pytest.raises(PeerError, match="unknown peer"):
        ensure_peer("nope", tmp_path)


def test_a_missing_peer_is_an_error_with_the_install_hint(tmp_path, repo):
    with pytest.raises(PeerError, match="ensure_peer"):
        run_aider(repo, "t", "http://127.0.0.1:9/v1", "m", 10, cache_dir=tmp_path)


def test_git_diff_stat_against_the_start(repo):
    base = git_head(repo)
    assert base and git_diff_stat(repo, base) == ""
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "agent"], cwd=repo,
                   check=True)
    (repo / "new.txt").write_text("untracked\n")
    stat = git_diff_stat(repo, base)  # a commit made by the agent still shows; untracked files do not
    assert "calc.py" in stat and "1 file changed" in stat and "new.txt" not in stat


@pytest.mark.skipif(resolve_runner(SandboxPolicy()) == "plain", reason="no sandbox runner on this machine")
def test_git_diff_stat_does_not_run_what_an_agent_wrote_into_git_config(repo, tmp_path):
    canary = tmp_path / "canary"
    subprocess.run(["git", "config", "filter.evil.clean", f"touch {canary}; cat"], cwd=repo, check=True)
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    (repo / "calc.py").write_text("changed\n")
    subprocess.run(["git", "diff", "--stat"], cwd=repo, check=True, capture_output=True)
    assert canary.exists()  # plain git runs the planted filter
    canary.unlink()
    # gitsafe empties every filter driver, so even unconfined the filter does not run; and it runs confined.
    assert "calc.py" in git_diff_stat(repo, git_head(repo), runner="plain") and not canary.exists()
    assert "calc.py" in git_diff_stat(repo, git_head(repo)) and not canary.exists()


@pytest.mark.skipif(resolve_runner(SandboxPolicy()) == "plain", reason="no sandbox runner on this machine")
def test_a_peer_may_use_git_in_its_clone_but_not_write_outside_it(repo, tmp_path):
    """Peers run confined, but git is theirs to use (aider writes .git/config and commits), unlike locoder's own
    model-run commands, for which .git is read-only."""
    from locoder.bench.peers import _run_peer

    outside = tmp_path / "outside.txt"
    script = (f"git config user.name peer && git -c user.email=p@e commit -qam peer --allow-empty"
              f" && (echo x > {outside} || true)")
    with CountingProxy("http://127.0.0.1:9/v1") as proxy:
        run = _run_peer("aider", PeerCommand(["bash", "-c", script], {}), repo, 60, tmp_path / "peer.log",
                        "auto", proxy, {})
    assert run.exit_code == 0, (tmp_path / "peer.log").read_text()
    assert "name = peer" in (repo / ".git" / "config").read_text()
    assert not outside.exists()


# ---- one real run of each peer on a tiny task, against the shared model server -------------------------------

TASK = "The test in test_mathutil.py fails: average() in mathutil.py returns the wrong value. Fix the bug."


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "mathutil.py").write_text('def average(numbers):\n    """Return the arithmetic mean of a non-empty list'
                                      ' of numbers."""\n    return sum(numbers) / (len(numbers) + 1)\n')
    (root / "test_mathutil.py").write_text("from mathutil import average\n\n\ndef test_average():\n"
                                           "    assert average([2, 4, 6]) == 4\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"], cwd=root, check=True)
    return root


def outcome(repo: Path, run) -> dict:
    tests = subprocess.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
                           capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    report = {"agent": run.agent, "fixed": tests.returncode == 0, "exit_code": run.exit_code,
              "timed_out": run.timed_out, "seconds": round(run.seconds, 1), "requests": run.requests,
              "prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens,
              "finish": run.finish, "changed": run.changed, "sandbox": run.sandbox, "log": str(run.log_path)}
    print("PEER RUN", json.dumps(report))
    return report


def check_run(run, tiny: Path, log: Path) -> None:
    text = log.read_text()
    assert run.log_path == log and text.startswith("$ ")
    assert run.timed_out or run.exit_code is not None, text[-2000:]
    assert run.requests >= 1 and run.prompt_tokens > 0 and run.completion_tokens > 0, text[-2000:]
    assert run.sandbox in ("bubblewrap", "landlock", "plain") and run.finish
    outcome(tiny, run)


@pytest.mark.e2e
@pytest.mark.skipif(installed_peer("aider") is None, reason="aider not installed (scripts/test installs it)")
@pytest.mark.skipif(not real_server_up(), reason=f"no model server at {REAL_SERVER}")
def test_aider_on_a_tiny_bug(tiny_repo, tmp_path):
    log = tmp_path / "aider.log"
    run = run_aider(tiny_repo, TASK, REAL_SERVER, MODEL, 900, test_cmd="python -m pytest -q", log_path=log)
    check_run(run, tiny_repo, log)
    assert "Aider v0.86.2" in log.read_text() and "whole edit format" in log.read_text()


@pytest.mark.e2e
@pytest.mark.skipif(installed_peer("mini-swe-agent") is None, reason="mini-swe-agent not installed")
@pytest.mark.skipif(not real_server_up(), reason=f"no model server at {REAL_SERVER}")
def test_mini_swe_agent_on_a_tiny_bug(tiny_repo, tmp_path):
    log = tmp_path / "mswea.log"
    run = run_mini_swe_agent(tiny_repo, TASK, REAL_SERVER, MODEL, 900, step_limit=15, log_path=log)
    check_run(run, tiny_repo, log)
    assert "mini-swe-agent" in log.read_text()
