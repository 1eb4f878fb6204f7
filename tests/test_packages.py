import os
import subprocess
import sys
from pathlib import Path

import pytest

from locoder.exceptions import ToolError
from locoder.messages import ToolCall
from locoder.sandbox import CommandResult
from locoder.tools import ToolBox, ToolContext
from locoder.tools.extra import extra_tools
from locoder.tools.packages import validate_requirement, workspace_venv

# A tiny pure-Python package on the package index this machine uses.
TINY, TINY_VERSION = "six", "1.17.0"


@pytest.mark.parametrize(("name", "version", "expected"), [
    ("requests", "", "requests"),
    ("six", "1.17.0", "six==1.17.0"),
    ("six", "==1.17.0", "six==1.17.0"),
    ("six==1.17.0", "", "six==1.17.0"),
    ("zope.interface", "", "zope.interface"),
    ("typing_extensions", "4.12.2", "typing_extensions==4.12.2"),
    ("Django", "5.0.*", "Django==5.0.*"),
    ("pkg", "1!2.0.post1+local", "pkg==1!2.0.post1+local"),
    ("torch", "2.13.0", "torch==2.13.0"),
    ("a", "", "a"),
])
def test_valid_requirements(name, version, expected):
    assert validate_requirement(name, version) == expected


@pytest.mark.parametrize(("name", "version", "reason"), [
    ("requests; rm -rf /", "", "markers and shell syntax"),
    ("requests;python_version<'3'", "", "markers and shell syntax"),
    ("--index-url x", "", "pip options"),
    ("-r", "", "pip options"),
    ("--index-url=http://evil/simple", "", "URLs"),
    ("../pkg", "", "paths"),
    ("./pkg", "", "paths"),
    ("/tmp/pkg", "", "paths"),
    ("pkg.whl/..", "", "paths"),
    ("git+https://github.com/x/y", "", "URLs"),
    ("https://example.com/pkg.tar.gz", "", "URLs"),
    ("pkg @ file:///x", "", "URLs"),
    ("pkg@1.0", "", "direct references"),
    ("two words", "", "spaces"),
    ("requests\n", "", "spaces"),
    ("$(id)", "", "shell syntax"),
    ("pkg`id`", "", "shell syntax"),
    ("pkg[extra]", "", "letters, digits"),
    ("-pkg", "", "pip options"),
    ("pkg-", "", "letters, digits"),
    ("", "", "a package name is required"),
    ("x" * 101, "", "at most 100"),
    ("six", ">=1.0", "exact version"),
    ("six", "1.0,<2", "exact version"),
    ("six", "1.0 --pre", "spaces"),
    ("six", "1.0;rm", "shell syntax"),
    ("six", "https://x/six.whl", "URLs"),
    ("torch", "", "an unpinned torch pulls gigabytes of CUDA packages"),
    ("Torch", "", "torch==VERSION"),
    ("torch", "2.*", "exact version"),
])
def test_refused_requirements(name, version, reason):
    with pytest.raises(ToolError) as info:
        validate_requirement(name, version)
    assert reason in str(info.value)


def test_a_venv_link_leading_outside_the_workspace_is_refused(tmp_path):
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    ws.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, ws / ".venv")
    with pytest.raises(ToolError, match="outside the workspace"):
        workspace_venv(ws)
    box = ToolBox(extra_tools(), ToolContext(workspace=ws))
    result = box.execute(ToolCall("install_package", {"name": "six"}))
    assert not result.ok and "outside the workspace" in result.output
    assert list(elsewhere.iterdir()) == []


def test_locoders_own_environment_is_refused(tmp_path):
    # A workspace whose .venv is the environment running these tests (as when locoder works on itself).
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink(sys.prefix, ws / ".venv")
    with pytest.raises(ToolError):
        workspace_venv(ws)
    prefix_parent = Path(os.path.realpath(sys.prefix)).parent
    if (Path(prefix_parent) / ".venv") == Path(os.path.realpath(sys.prefix)):
        with pytest.raises(ToolError, match="locoder itself runs in"):
            workspace_venv(prefix_parent)


def test_a_file_named_venv_is_refused(tmp_path):
    (tmp_path / ".venv").write_text("not a venv")
    with pytest.raises(ToolError, match="is a file"):
        workspace_venv(tmp_path)


def _installed(python: str) -> list[str]:
    code = "import importlib.metadata as m; print('\\n'.join(sorted(f'{d.name}=={d.version}' for d in m.distributions())))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()


def test_install_into_the_workspace_venv_only(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    before = _installed(sys.executable)
    box = ToolBox(extra_tools(), ToolContext(workspace=ws, command_timeout=30))
    result = box.execute(ToolCall("install_package", {"name": TINY, "version": TINY_VERSION}))
    assert result.ok, result.output
    assert result.output.startswith(f"$ .venv/bin/python -m pip install {TINY}=={TINY_VERSION}\n[exit code 0]\n")
    assert "created the workspace environment first" in result.output
    found = subprocess.run([str(ws / ".venv/bin/python"), "-c", f"import {TINY}; print({TINY}.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found).resolve().is_relative_to(ws.resolve())
    assert _installed(sys.executable) == before  # locoder's own environment is untouched

    again = box.execute(ToolCall("install_package", {"name": f"{TINY}=={TINY_VERSION}"}))
    assert again.ok and "created the workspace environment" not in again.output
    assert "already satisfied" in again.output.lower()


def test_installs_through_the_context_sandbox_with_the_longer_timeout(tmp_path):
    class RefusingSandbox:
        def __init__(self):
            self.calls = []

        def run(self, command, *, timeout, max_output):
            self.calls.append((command, timeout))
            return CommandResult(output="venv: not allowed here", exit_code=1)

    ctx = ToolContext(workspace=tmp_path, command_timeout=30)
    ctx.sandbox = sandbox = RefusingSandbox()  # type: ignore[attr-defined]
    result = ToolBox(extra_tools(), ctx).execute(ToolCall("install_package", {"name": "six"}))
    assert not result.ok and "could not create .venv" in result.output and "not allowed here" in result.output
    ((command, timeout),) = sandbox.calls
    assert command.endswith(f"{sys.executable} -m venv .venv") and timeout == 600
    assert command.startswith("unset PIP_TARGET ")
