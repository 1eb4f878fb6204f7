"""Per backend and tool mode: time to first token, generation tokens/s, and tool-call validity over a
fixed set of 20 requests, printed as a table (then one JSON line).

A reply is *valid* when locoder's parser turns it into a call of a known tool whose arguments pass that
tool's schema; *right tool* additionally matches the tool a person would call first.

Run: .venv/bin/python bench/bench_backends.py [--backends embedded,transformers] [--prompts N]
     [--openai-url URL --openai-model NAME] [--ollama-model NAME --ollama-url URL]
The embedded backend uses the 1.5B model through llama.cpp; transformers the 0.5B GGUF (needs the extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from locoder.agent.prompts import system_prompt
from locoder.exceptions import BackendError, FormatError, ToolError
from locoder.messages import Message
from locoder.models.parsing import action_schema, parse_tool_calls
from locoder.models.profiles import profile_for
from locoder.tools import default_tools

# (request, the tool a person would call first)
REQUESTS: list[tuple[str, str]] = [
    ("List the files in this repository.", "list_files"),
    ("Show me the contents of calc.py.", "read_file"),
    ("Where is the function scale defined?", "grep"),
    ("Create a file notes.txt containing the word hello.", "write_file"),
    ("Run the test suite with pytest.", "run_command"),
    ("In calc.py, change `return x * 3` to `return x * 4`.", "edit_file"),
    ("What is 2 + 2? Answer directly.", "final_answer"),
    ("Find every TODO comment in the code.", "grep"),
    ("Read lines 1 to 3 of calc.py.", "read_file"),
    ("Check which Python version is installed.", "run_command"),
    ("Write a script hello.py that prints hello.", "write_file"),
    ("What folders does the project have?", "list_files"),
    ("Search for imports of the os module.", "grep"),
    ("Show the git log of this repository.", "run_command"),
    ("Open README.md.", "read_file"),
    ("Replace the docstring of add in calc.py with 'Sum.'", "edit_file"),
    ("Say hello to the user; nothing else is needed.", "final_answer"),
    ("Run calc.py with python3.", "run_command"),
    ("Which files mention 'scale'?", "grep"),
    ("Create an empty __init__.py.", "write_file"),
]


def score(reply: Any, tools: dict[str, Any], params: dict[str, list[str]], syntax: str, expected: str) -> tuple[bool, bool]:
    try:
        calls = parse_tool_calls(reply.content, reply.tool_calls, params, syntax)
        tool = tools[calls[0].name]
        tool.coerce(calls[0].arguments)
    except (FormatError, ToolError, KeyError, IndexError):
        return False, False
    return True, calls[0].name == expected


def measure(model: Any, mode: str, syntax: str, prompts: int, workspace: Path) -> dict[str, Any]:
    tools = {t.name: t for t in default_tools()}
    schemas = [t.openai_schema() for t in tools.values()]
    params = {t.name: list(t.parameters["properties"]) for t in tools.values()}
    system = system_prompt(schemas, workspace)
    ttft, rates, valid, right = [], [], 0, 0
    for request, expected in REQUESTS[:prompts]:
        messages = [Message("system", system), Message("user", request)]
        try:
            reply = model.query(messages, schema=action_schema(schemas) if mode == "constrained" else None,
                                tools=schemas if mode == "native" else None)
        except BackendError as exc:
            print(f"    {request[:40]!r}: {exc}", file=sys.stderr)
            continue
        ok, hit = score(reply, tools, params, syntax, expected)
        valid, right = valid + ok, right + hit
        if reply.first_token_seconds is not None:
            ttft.append(reply.first_token_seconds)
            gen_time = reply.seconds - reply.first_token_seconds
            if reply.usage.completion_tokens > 1 and gen_time > 0:
                rates.append((reply.usage.completion_tokens - 1) / gen_time)
    return {"mode": mode, "n": prompts, "valid": valid, "right_tool": right,
            "ttft_median_s": statistics.median(ttft) if ttft else None,
            "gen_tokens_per_s": statistics.median(rates) if rates else None}


def open_backends(args: argparse.Namespace) -> list[tuple[str, Any, list[str], str]]:
    """(label, model, modes, model name for the profile)."""
    from locoder.models.installer import ModelStore
    from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel

    found = []
    for name in args.backends.split(","):
        if name == "embedded":
            from locoder.models.embedded import EmbeddedConfig, EmbeddedModel

            path = ModelStore().ensure("qwen2.5-coder-1.5b")
            model = EmbeddedModel(EmbeddedConfig(path, 8192), OpenAICompatConfig("", max_tokens=160, temperature=0),
                                  "qwen2.5-coder-1.5b")
            found.append(("embedded llama.cpp, 1.5B", model, ["constrained", "native", "text"], "qwen2.5"))
        elif name == "transformers":
            from locoder.models.transformers_backend import TransformersConfig, TransformersModel

            path = ModelStore().ensure("qwen2.5-coder-0.5b")
            model = TransformersModel(TransformersConfig(str(path), max_new_tokens=120, temperature=0,
                                                         context_window=4096, stop=profile_for("qwen2.5").stop))
            found.append(("transformers CPU, 0.5B GGUF", model, ["native", "text"], "qwen2.5"))
        elif name == "openai":
            model = OpenAICompatModel(OpenAICompatConfig(args.openai_url, args.openai_model, max_tokens=160, temperature=0))
            found.append((f"openai {args.openai_url}", model, ["constrained", "native", "text"], args.openai_model))
        elif name == "ollama":
            from locoder.models.ollama import OllamaConfig, OllamaModel

            model = OllamaModel(OllamaConfig(args.ollama_model, args.ollama_url, max_tokens=160, temperature=0))
            found.append((f"ollama {args.ollama_model}", model, ["constrained", "native", "text"], args.ollama_model))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="embedded,transformers")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--openai-url", default=os.environ.get("OPENAI_BASE_URL", ""))
    parser.add_argument("--openai-model", default=os.environ.get("MODEL_NAME", ""))
    parser.add_argument("--ollama-url", default="http://127.0.0.1:11434")
    parser.add_argument("--ollama-model", default="qwen3:1.7b")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workspace = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    (workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef scale(x):\n    return x * 3\n")
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    rows = []
    print(f"{'backend':<30} {'mode':<12} {'valid':>7} {'right tool':>11} {'TTFT s':>8} {'gen tok/s':>10}")
    for label, model, modes, name in open_backends(args):
        for mode in modes:
            row = {"backend": label, **measure(model, mode, profile_for(name).tool_syntax, args.prompts, workspace)}
            rows.append(row)
            ttft = f"{row['ttft_median_s']:.2f}" if row["ttft_median_s"] is not None else "-"
            rate = f"{row['gen_tokens_per_s']:.1f}" if row["gen_tokens_per_s"] is not None else "-"
            print(f"{label:<30} {mode:<12} {row['valid']:>4}/{row['n']:<2} {row['right_tool']:>8}/{row['n']:<2} "
                  f"{ttft:>8} {rate:>10}", flush=True)
        model.close()
    print(json.dumps({"workspace_tools": [t.name for t in default_tools()], "rows": rows}))


if __name__ == "__main__":
    main()
