"""Opt-in: locoder against a real vLLM server on the CPU (vLLM's OpenAI-compatible API, a 0.5B model).

Skipped unless LOCODER_VLLM_PYTHON names a Python that has vLLM installed (its own venv: vLLM pins its own
torch and transformers). Run with:

    LOCODER_VLLM_PYTHON=/path/to/vllm-venv/bin/python .venv/bin/python -m pytest -m vllm tests/test_vllm.py

vLLM cannot load the GGUF file on a CPU (its GGUF support is a plugin whose kernels need CUDA), so the
test turns the store's Qwen2.5-Coder-0.5B-Instruct GGUF into a Hugging Face folder (weights dequantized to
bfloat16, config, tokenizer) once, with that Python (it needs `gguf` and `accelerate` there), and caches
it under ~/.cache/locoder/vllm/. LOCODER_VLLM_MODEL may name a ready folder instead. Nothing is fetched
from a hub. The server starts in about two minutes on two cores (torch.compile warm-up).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from locoder.audit import read_audit_log

VLLM_PYTHON = os.environ.get("LOCODER_VLLM_PYTHON", "")
GGUF_MODEL = "qwen2.5-coder-0.5b"
SERVED_NAME = "qwen2.5-coder-0.5b-instruct"
START_TIMEOUT = float(os.environ.get("LOCODER_VLLM_START_TIMEOUT", "900"))

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not VLLM_PYTHON, reason="set LOCODER_VLLM_PYTHON to a Python with vLLM installed"),
]

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

CONVERT = Path(__file__).resolve().parent.parent / "scripts" / "gguf_to_hf.py"


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "locoder" / "vllm"


@pytest.fixture(scope="module")
def vllm_model() -> Path:
    if os.environ.get("LOCODER_VLLM_MODEL"):
        return Path(os.environ["LOCODER_VLLM_MODEL"])
    from locoder.models.installer import ModelStore

    out = _cache_dir() / f"{SERVED_NAME}-bf16"
    if (out / ".complete").is_file():
        return out
    gguf = ModelStore().ensure(GGUF_MODEL)
    done = subprocess.run(
        [VLLM_PYTHON, str(CONVERT), str(gguf), str(out)],
        capture_output=True, text=True, timeout=900, env={**os.environ, **OFFLINE},
    )
    assert done.returncode == 0, "GGUF conversion failed (needs gguf and accelerate):\n" + done.stderr[-3000:]
    (out / ".complete").write_text(str(gguf) + "\n")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """vLLM runs an engine and a worker process besides the API server: stop the whole group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def vllm_server(vllm_model: Path, tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {
        **os.environ,
        **OFFLINE,
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    command = [
        VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server",
        "--host", "127.0.0.1", "--port", str(port),
        "--model", str(vllm_model), "--served-model-name", SERVED_NAME,
        "--max-model-len", "4096",
        # Qwen2.5 writes <tool_call> tags: the hermes parser turns them into OpenAI tool_calls.
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM not ready after {START_TIMEOUT:.0f}s:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(base_url + "/models", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(3)
        yield base_url
    finally:
        _stop(proc)


def test_vllm_speaks_the_openai_forms_locoder_sends(vllm_server):
    """The two request forms locoder relies on: response_format json_schema and tools=."""
    url = vllm_server + "/chat/completions"
    messages = [{"role": "user", "content": "Run the shell command ls."}]
    schema = {
        "type": "object",
        "properties": {"tool": {"type": "string", "enum": ["run_command"]}, "command": {"type": "string"}},
        "required": ["tool", "command"],
        "additionalProperties": False,
    }
    body = {"model": SERVED_NAME, "messages": messages, "max_tokens": 64, "temperature": 0}
    constrained = httpx.post(url, timeout=300, json={
        **body, "response_format": {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}},
    })
    assert constrained.status_code == 200, constrained.text
    action = json.loads(constrained.json()["choices"][0]["message"]["content"])
    assert action["tool"] == "run_command" and isinstance(action["command"], str)

    tools = [{"type": "function", "function": {
        "name": "run_command", "description": "run a shell command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    }}]
    native = httpx.post(url, timeout=300, json={**body, "tools": tools, "tool_choice": "required"})
    assert native.status_code == 200, native.text
    calls = native.json()["choices"][0]["message"]["tool_calls"]
    assert calls and calls[0]["function"]["name"] == "run_command"
    assert "command" in json.loads(calls[0]["function"]["arguments"])


def run_locoder(repo: Path, base_url: str, task: str, *extra: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "XDG_CACHE_HOME": str(cache)}
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_TOOL_MODE"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "locoder", "run", task, "-w", str(repo), "--model", base_url,
         "--temperature", "0", "--max-steps", "6", *extra],
        capture_output=True, text=True, timeout=600, env=env,
    )


# A 0.5B model needs the task spelled out; the test is about the backend, not the model's judgement.
TASK = "Write a file named hello.py with the content: print('hello')"


def test_locoder_task_through_vllm_constrained(repo, vllm_server, tmp_path):
    out = run_locoder(repo, vllm_server, TASK, "--tool-mode", "constrained", cache=tmp_path / "cache")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    records = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")
    assert records[0]["backend"] == "openai" and records[0]["tool_mode"] == "constrained"
    ran = subprocess.run([sys.executable, "hello.py"], cwd=repo, capture_output=True, text=True)
    assert ran.returncode == 0 and "hello" in ran.stdout.lower()


def test_locoder_auto_mode_probes_vllm(repo, vllm_server, tmp_path):
    out = run_locoder(repo, vllm_server, TASK, cache=tmp_path / "cache")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    records = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")
    assert records[0]["backend"] == "openai" and records[0]["tool_mode"] in {"native", "constrained"}
    cached = json.loads((tmp_path / "cache" / "locoder" / "capabilities.json").read_text())
    assert [v["tool_mode"] for v in cached.values()] == [records[0]["tool_mode"]]
    assert "hello" in (repo / "hello.py").read_text()
