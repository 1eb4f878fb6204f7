from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository in a temporary folder, with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text(
        'def add(a, b):\n    """Add two numbers."""\n    return a + b\n\n\n'
        "def scale(x):\n    return x * 3\n"
    )
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"], cwd=root, check=True
    )
    return root


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user config and no model variables from the developer's machine leak into a test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODEL_NAME", "LOCODER_MODEL", "LOCODER_TOOL_MODE",
                "LOCODER_MAX_STEPS", "LOCODER_CONTEXT_WINDOW", "LOCODER_WORKSPACE", "LOCODER_THREADS"):
        monkeypatch.delenv(var, raising=False)
    return home


def action(tool: str, thought: str = "next", **arguments) -> str:
    return json.dumps({"thought": thought, "tool": tool, "arguments": arguments})
