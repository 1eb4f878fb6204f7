"""The escape suite's world: a workspace, canaries outside it, and the agent's tools over the real sandbox,
once per runner (bubblewrap, and Landlock where the kernel has it). Each test file here is one class of attack.

Each case runs through the agent's own tools in a workspace, then checks that a canary folder outside the
workspace (under /var/tmp, visible read-only to commands) and a canary file in the home folder are byte for
byte unchanged, and that the agent saw a clear refusal or error.
"""

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest

from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy, landlock
from locoder.sandbox.runners import bubblewrap_works
from locoder.tools import ToolBox, ToolContext, default_tools

RUNNERS = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap cannot run here")),
    pytest.param("landlock", marks=pytest.mark.skipif(landlock.abi() < 1, reason="the kernel has no Landlock")),
]

# What Landlock cannot stop (its module docstring and the README say so): rights granted to the workspace
# cover .locoder inside it, and metadata changes (chmod) of files the user owns are not covered.
LANDLOCK_GAPS = {
    "chmod 777 {canary}/file.txt": "Landlock does not cover chmod",
    "echo pwned > .locoder/audit.jsonl": "Landlock cannot make .locoder read-only inside a writable workspace",
    "rm -rf .locoder": "Landlock cannot make .locoder read-only inside a writable workspace",
    "mv .locoder gone": "Landlock cannot make .locoder read-only inside a writable workspace",
}

SECRET = "sk-live-CANARY-4c0ffee5ecret"


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            st = path.stat()
            out[rel] = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{st.st_mode:o}:{st.st_mtime_ns}"
        else:
            out[rel] = f"dir:{path.stat().st_mode:o}"
    return out


@pytest.fixture(params=RUNNERS)
def world(request, tmp_path):
    runner = request.param
    canary = Path("/var/tmp") / f"locoder-canary-{uuid.uuid4().hex[:8]}"
    (canary / "sub").mkdir(parents=True)
    (canary / "file.txt").write_text("precious\n")
    (canary / "sub" / "deep.txt").write_text("also precious\n")
    home = Path(os.path.expanduser("~"))
    home_canary = home / f".locoder-canary-{uuid.uuid4().hex[:8]}"
    home_canary.mkdir()
    (home_canary / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".locoder").mkdir()
    (workspace / ".locoder" / "audit.jsonl").write_text("{}\n")
    before = snapshot(canary), snapshot(home_canary), snapshot(workspace / ".locoder")
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    sandbox = Sandbox(workspace, SandboxPolicy(runner=runner, cpu_seconds=5, memory_mb=2048, max_processes=64),
                      env=env)
    box = ToolBox(default_tools(), ToolContext(workspace=workspace, command_timeout=5, command_output_chars=4000,
                                               sandbox=sandbox, env=env))
    yield {"canary": canary, "home": home_canary, "ws": workspace, "box": box, "runner": runner}
    after = snapshot(canary), snapshot(home_canary), snapshot(workspace / ".locoder")
    shutil.rmtree(canary, ignore_errors=True)
    shutil.rmtree(home_canary, ignore_errors=True)
    assert after == before, "something outside the workspace (or locoder's state) changed"


def run(world, command: str) -> str:
    """The observation the model would see, less its first line (the echoed command)."""
    if world["runner"] == "landlock" and command in LANDLOCK_GAPS:
        pytest.skip(LANDLOCK_GAPS[command])
    result = world["box"].execute(ToolCall("run_command", {"command": command.format(**world)}))
    return result.output.split("\n", 1)[1]


