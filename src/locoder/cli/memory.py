"""``locoder memory`` (and ``/memory`` in the session): list, search, forget or export what locoder remembers."""

from __future__ import annotations

import argparse
import shlex

from locoder.cli.registry import Invocation, Slash, command
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "search", "forget", "export"])
    p.add_argument("arg", nargs="?", help="search: the query; forget: the memory's id")
    p.add_argument("--kind", choices=["user", "answer", "note"], help="list: only this kind")
    p.add_argument("--limit", type=int, default=20, help="list/search: how many (default: 20)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _slash_argv(rest: str) -> list[str]:
    """``/memory search how are tests run``: the action, then the rest as the query (or flags, as words)."""
    action, _, tail = rest.strip().partition(" ")
    tail = tail.strip()
    if not tail or tail.startswith("-"):
        return [action, *shlex.split(tail)] if action else []
    return [action, "--", tail]


def _found(args: argparse.Namespace, store, console):
    """The memories to show, or None when the action printed its own result."""
    import json

    if args.action == "list":
        return store.list(kind=args.kind, limit=args.limit)
    if args.action == "search":
        if not args.arg:
            raise LocoderError("memory search needs a query: locoder memory search \"how are tests run\"")
        return store.search(args.arg, k=args.limit)
    if args.action == "forget":
        if not (args.arg or "").isdigit():
            raise LocoderError("memory forget needs a memory id (see: locoder memory list)")
        gone = store.forget(int(args.arg))
        if gone is None:
            raise LocoderError(f"no memory #{args.arg}")
        console.print(f"forgot #{gone.id}: {gone.text[:100]}", highlight=False, markup=False)
        return None
    print(json.dumps(store.export(), indent=1))
    return None


@command("memory", "list, search, forget or export what locoder remembers", arguments=_arguments,
         parents=("agent",), tool="remember, recall", slash=Slash("list|search QUERY|forget ID|export", _slash_argv))
def memory(args: argparse.Namespace, call: Invocation) -> int:
    import json

    from locoder.agent.factory import prepare_state
    from locoder.knowledge import Knowledge

    console = call.console
    settings = call.settings(args)
    prepare_state(settings)
    knowledge = Knowledge(settings)
    try:
        found = _found(args, knowledge.store, console)
    finally:
        knowledge.close()
    if found is None:
        return 0
    if args.json:
        print(json.dumps([m.as_dict() for m in found], indent=1))
        return 0
    for m in found:
        score = f" {m.score:.2f}" if args.action == "search" else ""
        console.print(f"#{m.id:<5} {m.as_dict()['created'][:16]} {m.kind:<6}{score} {' '.join(m.text.split())[:120]}",
                      highlight=False, markup=False, soft_wrap=True)
    if not found:
        console.print("nothing remembered yet" if args.action == "list" else "nothing similar remembered")
    return 0

