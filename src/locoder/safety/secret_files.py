"""Which file names hold credentials: file tools refuse them, grep and the index pass them by.

Pure functions over names; the standard library only."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

SECRET_FILES = (".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*",
                "id_ed25519*", ".netrc", ".pypirc", ".npmrc", ".git-credentials", ".ssh/*", ".aws/*", ".gnupg/*",
                ".docker/config.json", ".kube/config")
"""Glob patterns: on the last part of a path, or ``FOLDER/*`` for any path with that folder in it."""


def is_secret_file(path: str) -> bool:
    """Whether ``path`` (relative, ``/`` or ``\\``) names a file that holds credentials."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    for pattern in SECRET_FILES:
        if "/" in pattern:
            head, _, tail = pattern.partition("/")
            if (head in parts) if tail == "*" else "/".join(parts[-2:]) == pattern:
                return True
        elif parts and fnmatch.fnmatchcase(parts[-1], pattern):
            return True
    return False


def ripgrep_excludes() -> list[str]:
    """``-g`` globs that keep ripgrep out of secret files, like ``is_secret_file``."""
    out = []
    for pattern in SECRET_FILES:
        head, sep, tail = pattern.partition("/")
        out.append(f"!**/{head}/**" if sep and tail == "*" else f"!{pattern}")
    return out
