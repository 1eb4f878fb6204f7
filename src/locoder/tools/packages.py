"""install_package: pip-install one package into the workspace's own virtual environment, ``<workspace>/.venv``.

Never into the environment locoder runs in: the target must be a real folder inside the workspace, and
not ``sys.prefix``. Names and versions are checked before anything runs, so no URL, path, option or second
command can ride along with a package name.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import resolve_in_workspace

NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")  # PEP 508 project names
VERSION_RE = re.compile(r"^[0-9A-Za-z.+!*-]+$")
MAX_NAME = 100
INSTALL_TIMEOUT = 600.0
VENV = ".venv"
# Variables that would send pip's files somewhere other than the workspace's environment; unset before
# each command (in the shell, so it holds in a sandbox too).
_UNSET = "unset PIP_TARGET PIP_PREFIX PIP_ROOT PIP_USER PYTHONHOME PYTHONPATH PYTHONUSERBASE VIRTUAL_ENV; "
# Packages whose unpinned install is refused, and why.
NEEDS_PIN = {
    "torch": "an unpinned torch pulls gigabytes of CUDA packages; ask for an exact version, torch==VERSION "
             "(the version of a CPU wheel already on this machine installs quickly)",
}


def _refusal_reason(text: str) -> str | None:
    if "://" in text or text.startswith(("git+", "hg+", "svn+", "bzr+")):
        return "URLs are not allowed"
    if text.startswith("-"):
        return "pip options are not allowed"
    if ";" in text or "&" in text or "|" in text or "`" in text or "$" in text:
        return "markers and shell syntax are not allowed"
    if "/" in text or "\\" in text or text.startswith("."):
        return "paths are not allowed"
    if "@" in text:
        return "direct references (name @ url) are not allowed"
    if any(c.isspace() for c in text):
        return "spaces are not allowed"
    return None


def normalize_name(name: str) -> str:
    """PEP 503 normalisation: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def validate_requirement(name: str, version: str = "") -> str:
    """Check a package name and an optional exact version; return the requirement ``name[==version]``.

    Accepts ``name`` written as ``name==version`` when ``version`` is empty, and a version given with a
    leading ``==``. Raises ``ToolError`` saying what is wrong.
    """
    if not version and "==" in name:
        name, _, version = name.partition("==")
    version = version.removeprefix("==")
    if not name:
        raise ToolError("a package name is required")
    why = _refusal_reason(name)
    if why or len(name) > MAX_NAME or not NAME_RE.match(name):
        hint = why or f"a package name is letters, digits, '.', '_' and '-', at most {MAX_NAME} characters"
        raise ToolError(f"refused package name {name!r}: {hint}; give the plain PyPI name, e.g. requests")
    if version:
        why = _refusal_reason(version)
        if why or len(version) > MAX_NAME or not VERSION_RE.match(version):
            hint = why or "give an exact version such as 2.31.0 (no <, >, ~ or ,)"
            raise ToolError(f"refused version {version!r}: {hint}")
    pin_reason = NEEDS_PIN.get(normalize_name(name))
    if pin_reason and (not version or "*" in version):
        raise ToolError(f"refused {name} without an exact version: {pin_reason}")
    return f"{name}=={version}" if version else name


def workspace_venv(workspace: Path) -> Path:
    """The workspace's environment folder, refused if it leaves the workspace or is locoder's own."""
    link = Path(workspace) / VENV
    try:
        venv = resolve_in_workspace(workspace, VENV)
    except ToolError:
        raise ToolError(f"{VENV} in the workspace is a link to {os.path.realpath(link)}, outside the "
                        "workspace; refusing to install there") from None
    own = {Path(os.path.realpath(p)) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if venv in own or venv == resolve_in_workspace(workspace, "."):
        raise ToolError(f"{VENV} in the workspace is the Python environment locoder itself runs in ({venv}); "
                        "refusing to change it. Use run_command with a separate environment instead.")
    if venv.exists() and not venv.is_dir():
        raise ToolError(f"{VENV} in the workspace is a file, not a virtual environment")
    return venv


@tool(effects=("run", "write", "network"), subject="name")
def install_package(ctx: ToolContext, name: str, version: str = "") -> str:
    """Install a Python package from PyPI into the workspace's own virtual environment (.venv in the
    workspace, created if missing). Use it through run_command with .venv/bin/python; run_python runs
    locoder's own Python and does not see it.

    Args:
        name: The PyPI package name, e.g. requests (no URLs, paths or options).
        version: An exact version, e.g. 2.31.0; empty for the latest.
    """
    requirement = validate_requirement(name, version)
    venv = workspace_venv(ctx.workspace)
    python = venv / "bin" / "python"
    created = ""
    if not python.exists():
        if venv.exists() and any(venv.iterdir()):
            raise ToolError(f"{VENV} in the workspace exists but has no bin/python; remove or repair it first")
        make = f"{shlex.quote(sys.executable)} -m venv {VENV}"
        made = ctx.run(_UNSET + make, longest=INSTALL_TIMEOUT)
        if not made.ok or not python.exists():
            raise ToolError(f"could not create {VENV}:\n$ {make}\n{made.output.strip()}")
        created = f"(created the workspace environment first: $ {make})\n"
    command = f"{VENV}/bin/python -m pip install {shlex.quote(requirement)}"
    result = ctx.run(_UNSET + command, longest=INSTALL_TIMEOUT)
    output = result.output.strip() or "(no output)"
    if not result.ok and not ctx.network_allowed:
        output += "\n(note: commands run without network access here, so only locally available packages install)"
    return f"$ {command}\n[{result.status}]\n{created}{output}"
