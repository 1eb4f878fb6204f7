"""The system prompt. It is built once per session and never changes, so the server can keep the
KV cache of the whole prefix between turns."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import Any

FORMAT_ONE = """Reply with exactly one JSON object on one line and nothing else:
{"thought": "<what the last result showed, and what you do next>", "tool": "<tool name>", "arguments": {<arguments>}}"""

FORMAT_MANY = """Reply with exactly one JSON object and nothing else, with 1 to {n} tool calls run in order:
{{"thought": "<one short sentence>", "actions": [{{"tool": "<tool name>", "arguments": {{<arguments>}}}}]}}"""

RULES = """Rules:
- Paths are relative to the repository root. You can only touch files inside it.
- Look before you act: list_files, grep and read_file show what exists. Read a file before editing it.
- edit_file replaces an exact block of existing lines; write_file writes a whole file.
- run_command runs a bash command in the repository root; use it to run programs and tests. Python is `{python}`.
- Read each tool result carefully and decide the next step from it. Never repeat a call whose result you have.
- When the task is done, or the question is answered, call final_answer. For questions about code, the answer
  quotes the relevant lines and names the file."""

EXAMPLE = """Example of a whole task:
user: What does parse in util.py return?
you: {"thought": "I have not seen util.py yet; find parse.", "tool": "grep", "arguments": {"pattern": "def parse", "path": "util.py"}}
user: Result of grep(pattern='def parse', path='util.py'): util.py:12:def parse(text):
you: {"thought": "parse starts at line 12; read it.", "tool": "read_file", "arguments": {"path": "util.py"}}
user: Result of read_file(path='util.py'): ... 12  def parse(text): 13      tokens = text.split() 14      return tokens ...
you: {"thought": "Line 14 returns tokens, the words of text.", "tool": "final_answer", "arguments": {"answer": "parse in util.py returns `tokens`, the list of words of `text` (line 14: `return tokens`)."}}"""


def _signature(tool: dict[str, Any]) -> str:
    fn = tool["function"]
    params = fn["parameters"]
    args = []
    for name in params["properties"]:
        args.append(name if name in params["required"] else f"{name}?")
    return f"- {fn['name']}({', '.join(args)}): {fn['description']}"


def system_prompt(
    tools: list[dict[str, Any]],
    workspace: Path,
    max_actions: int = 1,
    notes: list[str] | None = None,
    instructions: str | None = None,
    python: str = "",
) -> str:
    """locoder's prompt; ``instructions`` replaces its own guidance, the tools and reply format stay.
    ``python`` is the project's interpreter (``tools.tests.project_python``)."""
    python = python or ("python3" if shutil.which("python3") else "python")
    intro = [
        f"You are locoder, a coding agent working in the repository at {workspace}.",
        "You complete the user's task by calling tools and reading their results, one step at a time.",
    ]
    guidance = [RULES.format(python=python), "", EXAMPLE if max_actions == 1 else ""]
    if instructions:
        intro, guidance = [instructions.strip()], []
    parts = [
        *intro,
        "",
        "Tools (? marks an optional argument):",
        *(_signature(t) for t in tools),
        "",
        FORMAT_ONE if max_actions == 1 else FORMAT_MANY.format(n=max_actions),
        "",
        *guidance,
        "",
        f"Environment: {platform.system()} with bash.",
    ]
    if notes:
        parts += ["", "Notes the user asked you to remember about this project:", *(f"- {n}" for n in notes)]
    return "\n".join(parts)
