"""Trusting the project's ``.locoder.toml``: settings that widen what the agent may do are taken from it only
when the file is byte for byte the one the user last confirmed with ``locoder trust``.

The agent can write the workspace (a command under Landlock, or any process it left running), so a file there
that says ``mode = "full-access"`` or ``env_allow = "OPENAI_API_KEY"`` must not take effect in the next session
on its own. The confirmed hashes live outside the workspace, in ``$XDG_STATE_HOME/locoder/trusted.json``
(default ``~/.local/state``), keyed by the file's real path. Settings that only narrow (deny rules, read-only
mode, approval ``ask``/``never``, limits at their defaults) apply from any file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WIDENING = ("mode", "approval", "sandbox", "network", "allow_network", "env_allow", "allow", "mcp_servers",
            "unix_sockets", "disk_mb", "git_writable", "trust_remote_code", "cpu_seconds", "memory_mb",
            "max_processes", "state_dir", "audit_log", "model", "ollama_url", "context7_url", "test_cmd",
            "lint_cmd")
"""Every setting that can widen what the agent or its commands may do, or where the code is sent; the only
list of them (the trust check here and ``locoder trust`` read it)."""

NARROWING_VALUES = {("mode", "read-only"), ("mode", "workspace-write"), ("approval", "ask"),
                    ("approval", "never"), ("approval", ""), ("network", False), ("allow_network", False),
                    ("git_writable", False), ("trust_remote_code", False), ("env_allow", ""), ("allow", ()),
                    ("sandbox", "auto"), ("sandbox", "bubblewrap"), ("unix_sockets", False), ("test_cmd", ""),
                    ("lint_cmd", "")}
"""Values of widening settings that widen nothing (the defaults, or stricter), so they apply untrusted."""


LIMITS = ("cpu_seconds", "memory_mb", "max_processes", "disk_mb")
"""Numeric limits: a value widens when it is 0 (no limit) or above the default."""


def widening(values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings in ``values`` (one file's) that widen what the agent may do; ``defaults`` are the
    settings' defaults, for the numeric limits (without them any limit counts as widening)."""
    out = {}
    for key, value in values.items():
        if key not in WIDENING or (key, value if not isinstance(value, list) else tuple(value)) in NARROWING_VALUES:
            continue
        if key == "model" and "://" not in str(value):
            continue  # a model name picks a local model; only a URL sends the code somewhere
        default = (defaults or {}).get(key)
        if key in LIMITS and isinstance(value, int) and isinstance(default, int) and 0 < value <= default:
            continue
        out[key] = value
    return out


def store_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or "~").expanduser() / ".local" / "state")
    return Path(base) / "locoder" / "trusted.json"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load(env: Mapping[str, str]) -> dict[str, str]:
    try:
        data = json.loads(store_path(env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def is_trusted(path: Path, data: bytes, env: Mapping[str, str]) -> bool:
    """Whether ``data`` (the bytes of ``path`` as read) is what the user last confirmed for that file."""
    return _load(env).get(os.path.realpath(path)) == digest(data)


def trust(path: Path, env: Mapping[str, str], data: bytes | None = None) -> str:
    """Record the file's content (``data``, as the caller read and showed it, or read now) as confirmed;
    returns its hash. The store is replaced atomically."""
    from locoder.atomic import write_atomic

    data = path.read_bytes() if data is None else data
    store = _load(env)
    store[os.path.realpath(path)] = digest(data)
    write_atomic(store_path(env), json.dumps(store, indent=1, sort_keys=True) + "\n")
    return digest(data)
