"""Model-family quirks, in one table keyed by model-name prefix.

A profile says which tool-call syntax the family writes in text, its stop strings, whether it has a
thinking mode (and how the chat template switches it), whether it honours a system message, and its
default context size. Nothing else in locoder tests model names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    family: str
    tool_syntax: str = "json"
    """How the family writes tool calls in plain text: json (also Hermes <tool_call> and Llama's
    <|python_tag|>), qwen3-coder (XML parameters), mistral ([TOOL_CALLS]), deepseek, gemma (tool_code
    blocks), harmony (gpt-oss)."""
    stop: tuple[str, ...] = ()
    """End-of-turn strings: trimmed from replies, and the stopping criterion of in-process generation."""
    thinking: bool = False
    """The model can think before answering (text in <think>...</think> or a reasoning channel)."""
    thinking_switch: bool = False
    """The chat template takes ``enable_thinking`` to turn thinking on or off."""
    system_role: bool = True
    """The template honours a system message; if not, instructions go into the first user turn."""
    context_window: int = 8192
    """Default context size in tokens when the user sets none."""


GENERIC = Profile("generic")

# Longest matching prefix wins, so "qwen3-coder" is chosen over "qwen3" and "qwen2.5-coder" over "qwen2.5".
PROFILES: tuple[tuple[str, Profile], ...] = (
    ("qwen2.5", Profile("qwen2.5", "json", ("<|im_end|>", "<|endoftext|>"), context_window=32768)),
    ("qwen3", Profile("qwen3", "json", ("<|im_end|>", "<|endoftext|>"), thinking=True, thinking_switch=True,
                      context_window=32768)),
    ("qwen3-coder", Profile("qwen3-coder", "qwen3-coder", ("<|im_end|>", "<|endoftext|>"), context_window=65536)),
    ("qwq", Profile("qwq", "json", ("<|im_end|>",), thinking=True, context_window=32768)),
    ("devstral", Profile("devstral", "mistral", ("</s>",), context_window=32768)),
    ("mistral", Profile("mistral", "mistral", ("</s>",), context_window=32768)),
    ("mixtral", Profile("mixtral", "mistral", ("</s>",), context_window=32768)),
    ("codestral", Profile("codestral", "mistral", ("</s>",), context_window=32768)),
    ("llama", Profile("llama", "json", ("<|eot_id|>", "<|eom_id|>"), context_window=8192)),
    ("codellama", Profile("codellama", "json", ("</s>",), context_window=16384)),
    ("deepseek", Profile("deepseek", "deepseek", ("<｜end▁of▁sentence｜>",), context_window=16384)),
    ("deepseek-r1", Profile("deepseek-r1", "deepseek", ("<｜end▁of▁sentence｜>",), thinking=True, context_window=32768)),
    ("gemma", Profile("gemma", "gemma", ("<end_of_turn>",), system_role=False, context_window=8192)),
    ("gpt-oss", Profile("gpt-oss", "harmony", ("<|return|>", "<|call|>"), thinking=True, context_window=32768)),
    ("phi", Profile("phi", "json", ("<|end|>", "<|endoftext|>"), context_window=16384)),
)


def normalise(model: str) -> str:
    """``Qwen/Qwen3-1.7B-GGUF``, ``qwen3:1.7b``, ``/models/qwen3-1.7b-q4.gguf`` -> ``qwen3...``."""
    name = model.strip().lower().rstrip("/")
    name = name.rsplit("/", 1)[-1]
    name = name.removeprefix("ollama:")
    return re.sub(r"[\s_]+", "-", name)


def profile_for(model: str) -> Profile:
    """The profile whose prefix starts the name (or a dash-separated part of it, as in
    ``meta-llama-3.1``); a match at the start wins, then the longest prefix."""
    name = normalise(model)

    def rank(entry: tuple[str, Profile]) -> tuple[bool, int]:
        return name.startswith(entry[0]), len(entry[0])

    matches = [e for e in PROFILES if name.startswith(e[0]) or f"-{e[0]}" in name]
    return max(matches, key=rank)[1] if matches else GENERIC
