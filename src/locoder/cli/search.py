"""The code index commands: ``index``, ``emb-index``, ``grep``, ``esearch``, ``vretr``, ``tree``, ``ls``,
``codectx``, ``map``. Each computes its result with ``locoder.index.commands`` (which the tools share) and
prints it as text or JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from locoder.cli.registry import Invocation, Slash, command, text
from locoder.exceptions import LocoderError

SEARCH_COMMANDS = ("index", "emb-index", "grep", "esearch", "vretr", "tree", "ls", "codectx", "map")

# compute(workspace, args, progress update or None, state) -> the result dict of locoder.index.commands
Compute = Callable[[Path, argparse.Namespace, Callable | None, object], dict]


def _show(args: argparse.Namespace, call: Invocation, compute: Compute) -> int:
    import json

    from locoder.cli.options import progress
    from locoder.index import commands
    from locoder.index.search import SearchError

    workspace = Path(args.workspace).resolve()
    if not workspace.is_dir():
        raise LocoderError(f"{args.workspace} is not a folder")
    state = call.workspace_settings(str(workspace)).state_paths
    update, stop = progress(call.console) if not args.json else (None, lambda: None)
    try:
        result = compute(workspace, args, update, state)
    except SearchError as exc:
        raise LocoderError(str(exc)) from None
    finally:
        stop()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        call.console.print(commands.render(result, verbose=getattr(args, "show", False)), highlight=False,
                           markup=False, soft_wrap=True)
    return 0


REPO = ("repo",)


@command("index", "build or update the code index (index/ in the state folder, .locoder by default)", parents=REPO, tool="index", slash=Slash())
def index(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_index

    return _show(args, call, lambda ws, a, update, state: do_index(ws, update, state))


@command("emb-index", "build or update the code index and its embeddings", parents=REPO, tool="emb_index",
         slash=Slash())
def emb_index(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_emb_index

    return _show(args, call, lambda ws, a, update, state: do_emb_index(ws, update, state))


def _grep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", metavar="REGEX")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("--glob", default="", help='only files whose name matches, e.g. "*.py"')
    p.add_argument("--max", type=int, default=100, dest="limit", help="most matching lines (default: 100)")


@command("grep", "search file contents with a regular expression", arguments=_grep_arguments, parents=REPO,
         tool="grep", slash=Slash("REGEX", text()))
def grep(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_grep

    return _show(args, call, lambda ws, a, update, state: do_grep(ws, a.pattern, a.path, a.glob, a.limit, state))


def _query_arguments(flag: str, short: str, mode: str, mode_help: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument(flag, short, dest="query", required=True, metavar="TEXT")
        p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
        p.add_argument("--mode", default=mode, choices=["hybrid", "lexical", "vector"], help=mode_help)
        p.add_argument("--show", action="store_true", help="show the code of each hit")

    return add


def _search(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_search

    return _show(args, call, lambda ws, a, update, state: do_search(ws, a.query, a.k, a.mode, update,
                                                                     with_text=a.show, state=state))


command("esearch", "hybrid lexical + semantic search over code chunks", parents=REPO, tool="search_code",
        arguments=_query_arguments("--q", "--query", "hybrid", "hybrid (default), lexical (BM25) or vector"),
        slash=Slash("QUERY", text("--q")))(_search)
command("vretr", "vector retrieval over everything embedded", parents=REPO, tool="vretr",
        arguments=_query_arguments("--query", "-q", "vector", argparse.SUPPRESS),
        slash=Slash("QUERY", text("--query")))(_search)


def _listing_arguments(depth: int) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("path", nargs="?", default=".")
        p.add_argument("--depth", type=int, default=depth, help=f"levels shown (default: {depth})")

    return add


def _tree(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_tree

    return _show(args, call, lambda ws, a, update, state: do_tree(ws, a.path, a.depth, state))


command("tree", "the indexed files as a tree", arguments=_listing_arguments(3), parents=REPO, tool="tree",
        slash=Slash("[PATH]"))(_tree)
command("ls", "the indexed files of a folder", arguments=_listing_arguments(1), parents=REPO, tool="list_files",
        slash=Slash("[PATH]"))(_tree)


@command("codectx", "outline of a file: definitions, imports, where it is used", parents=REPO, tool="code_outline",
         arguments=lambda p: p.add_argument("path"), slash=Slash("PATH"))
def codectx(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_codectx

    return _show(args, call, lambda ws, a, update, state: do_codectx(ws, a.path, state))


def _map_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="", help="rank for this task (default: the whole repository)")
    p.add_argument("--tokens", type=int, default=1024, help="size budget in tokens (default: 1024)")


@command("map", "the repo map the model is given with a task", arguments=_map_arguments, parents=REPO)
def repo_map(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index.commands import do_map

    return _show(args, call, lambda ws, a, update, state: do_map(ws, a.task, a.tokens, state))
