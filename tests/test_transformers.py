"""The transformers backend on the CPU: the 0.5B embedded model loaded from its GGUF (gguf_file=)."""

import os
import subprocess
import sys

import pytest

from locoder.audit import read_audit_log

pytestmark = pytest.mark.slow

TOOLS = {"list_files", "read_file", "grep", "write_file", "edit_file", "run_command", "final_answer"}


@pytest.fixture(scope="module")
def gguf() -> str:
    pytest.importorskip("transformers", reason="needs the extra: pip install 'locoder[transformers]'")
    from locoder.models.installer import ModelStore

    return str(ModelStore().ensure("qwen2.5-coder-0.5b"))


def test_agent_runs_on_a_transformers_model_loaded_from_gguf(gguf, repo):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "locoder", "run", "What does the function scale in calc.py return?", "-w", str(repo),
         "--backend", "transformers", "--model", gguf, "--max-steps", "3", "--temperature", "0",
         "--max-new-tokens", "120", "--context-window", "4096",
         "--workflow", "loop"],  # the tool loop, whose calls this test reads (a question would go to ask)
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    records = read_audit_log(repo / ".locoder" / "logs" / "agent_audit.jsonl")
    session = records[0]
    assert session["backend"] == "transformers" and session["tool_mode"] == "native" and session["profile"] == "qwen2.5"
    steps = [r for r in records if r["type"] == "step"]
    assert steps, out.stdout[-2000:]
    first = steps[0]
    # The real model's reply, rendered by the model's own chat template, was turned into a known tool call.
    assert first.get("calls") and first["calls"][0]["tool"] in TOOLS, first.get("raw_output")
    assert first["usage"]["prompt_tokens"] > 100 and first["usage"]["completion_tokens"] > 0
    assert [r["type"] for r in records][-2:] == ["result", "summary"]


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(gguf, repo):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    out = subprocess.run(
        [sys.executable, "-m", "locoder", "run", "x", "-w", str(repo), "--backend", "transformers",
         "--model", gguf, "--device-map", "cuda"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 3 and "sees no CUDA device" in out.stderr and "Traceback" not in out.stderr
