"""``locoder trust``: use the widening settings of this project's ``.locoder.toml`` as it is now."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.registry import Invocation, command
from locoder.exceptions import LocoderError


@command("trust", "use the widening settings (mode, sandbox, network, env_allow, allow...) of this project's "
                  ".locoder.toml as it is now", parents=("workspace",))
def trust(args: argparse.Namespace, call: Invocation) -> int:
    """Record the project file's hash outside the workspace, after showing what it widens."""
    import os

    from locoder.config import trust as trust_store
    from locoder.config.settings import _read_toml
    from locoder.locations import PROJECT_CONFIG

    path = Path(args.workspace).expanduser() / PROJECT_CONFIG
    if not path.is_file():
        raise LocoderError(f"{path} does not exist; there is nothing to trust")
    raw = path.read_bytes()
    wide = trust_store.widening(_read_toml(path, raw))
    trust_store.trust(path, os.environ, raw)
    shown = "; ".join(f"{k} = {v!r}" for k, v in sorted(wide.items())) or "nothing (only narrowing settings)"
    call.console.print(f"trusted {os.path.realpath(path)} as it is now; it widens: {shown}. Any change to the file "
                       "needs 'locoder trust' again", highlight=False, markup=False, soft_wrap=True)
    return 0
