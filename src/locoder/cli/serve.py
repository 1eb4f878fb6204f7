"""``locoder serve``: the embedded model as an OpenAI-compatible server on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.options import progress
from locoder.cli.registry import Invocation, command
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8765, help="port on --host (default: 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")


def _model_file(settings, console) -> Path:
    from locoder.models.installer import CATALOG, ModelStore

    if settings.model not in CATALOG:
        return Path(settings.model).expanduser()
    update, stop = progress(console)
    try:
        return ModelStore(Path(settings.models_dir) if settings.models_dir else None).ensure(settings.model,
                                                                                            progress=update)
    finally:
        stop()


@command("serve", "serve the embedded model as an OpenAI-compatible server (for other tools, peers and locoder bench)",
         arguments=_arguments, parents=("agent",))
def serve(args: argparse.Namespace, call: Invocation) -> int:
    import time

    from locoder.models import EMBEDDED_CONTEXT, backend_kind
    from locoder.models.embedded import EmbeddedConfig, EmbeddedServer

    settings = call.settings(args)
    if backend_kind(settings) != "embedded":
        raise LocoderError("serve runs an embedded model: --model NAME (locoder models list) or a .gguf file")
    path = _model_file(settings, call.console)
    server = EmbeddedServer(EmbeddedConfig(path, settings.context_window or EMBEDDED_CONTEXT, settings.threads,
                                           port=args.port, host=args.host))
    call.console.print(f"serving {settings.model} at {server.base_url} (Ctrl-C stops it)", soft_wrap=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        call.console.print("stopped")
        return 0
    finally:
        server.close()
