"""``locoder ctx`` (and ``/ctx [FILE]`` in the session): the key events of logs."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.registry import Invocation, Slash, command
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="log files, folders, globs, or - for standard input (default: logs/)")
    p.add_argument("--since", default="", metavar="TIME", help="only lines from this time on, e.g. 2026-11-21T10:00")
    p.add_argument("--tokens", type=int, default=0, help="cut the digest to about this many tokens")
    p.add_argument("--json", action="store_true", help="print the digest as JSON")


@command("ctx", "the key events of logs: errors, exceptions (collapsed), failed tests", arguments=_arguments,
         parents=("workspace",), tool="context", slash=Slash("[FILE...]"))
def ctx(args: argparse.Namespace, call: Invocation) -> int:
    import json

    from locoder.logs.digest import build_digest, render

    root = Path(args.workspace).resolve()
    paths = args.paths or ["logs"]
    if not args.paths and not (root / "logs").is_dir():
        raise LocoderError(f"no logs/ folder in {root}: name log files, folders or globs, or pipe a log into 'locoder ctx -'")
    try:
        digest = build_digest(paths, root, since=args.since).as_dict()
    except FileNotFoundError as exc:
        raise LocoderError(str(exc)) from None
    if args.json:
        print(json.dumps(digest, indent=1))
    else:
        call.console.print(render(digest, args.tokens), highlight=False, markup=False, soft_wrap=True)
    return 0
