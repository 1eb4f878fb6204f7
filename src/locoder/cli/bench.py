"""``locoder bench``: a task set run by locoder and peer agents against one model server; a table and a plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from locoder.cli.registry import Invocation, command
from locoder.exceptions import LocoderError


def _arguments(b: argparse.ArgumentParser) -> None:
    from locoder.bench.choices import AGENTS, SUITES

    b.add_argument("--set", dest="suite", default="bugfix", choices=SUITES,
                   help="bugfix: failing tests in the repo; bugfix-removed: only the report; humaneval (default: bugfix)")
    b.add_argument("--tasks", metavar="FILE", help="a bug-fix task file (default: the one locoder ships)")
    b.add_argument("--agents", default="locoder", help=f"comma-separated, of {', '.join(AGENTS)} (default: locoder)")
    b.add_argument("--model", "-m", default="", metavar="URL",
                   help="an OpenAI-compatible server for every agent (default: the embedded model, served for the run)")
    b.add_argument("--model-name", default="", help="model id to request from the server")
    b.add_argument("--only", default="", metavar="IDS", help="comma-separated task ids")
    b.add_argument("--limit", type=int, default=0, help="the first N tasks only")
    b.add_argument("--timeout", type=float, default=600, help="seconds per agent and task (default: 600)")
    b.add_argument("--out", default="", metavar="DIR", help="results folder (default: locoder-bench/SET); "
                                                           "a rerun skips what is there")
    b.add_argument("--ray", default="", metavar="ADDRESS", help="spread the tasks over a Ray cluster (ray://... or auto)")
    b.add_argument("--install-peers", action="store_true", help="install the peer agents first (pip, pinned versions)")
    b.add_argument("--locoder-args", default="", metavar="ARGS", help='extra flags for locoder run, e.g. "--attempts 3"')
    b.add_argument("--threads", type=int, default=0, help="CPU threads for the embedded model server")


def _agents(args: argparse.Namespace, console) -> list[str]:
    from locoder.bench import runner

    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    unknown = [a for a in agents if a not in runner.AGENTS]
    if unknown or not agents:
        raise LocoderError(f"unknown agent(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(runner.AGENTS)}")
    if args.install_peers:
        from locoder.bench.peers import ensure_peer

        for agent in agents:
            if agent != "locoder":
                console.print(f"{agent}: {ensure_peer(agent)}")
    return agents


def _run(args: argparse.Namespace, agents: list[str], out: Path, console) -> list[dict]:
    """Every (task, agent) result, against ``--model`` or an embedded server started for the run."""
    import shlex

    from locoder.bench import runner

    suite = runner.Suite(args.suite, Path(args.tasks) if args.tasks else None)
    server = None
    base_url = args.model
    if not base_url:
        from locoder.models.embedded import EmbeddedConfig, EmbeddedServer
        from locoder.models.installer import ModelStore

        console.print("starting the embedded model server for the run ...")
        server = EmbeddedServer(EmbeddedConfig(ModelStore().ensure("qwen2.5-coder-1.5b"), threads=args.threads))
        base_url = server.base_url

    def progress(r: dict) -> None:
        mark = "[green]solved[/]" if r["solved"] else "[red]not solved[/]"
        console.print(f"{r['task']:<24} {r['agent']:<15} {mark} {r['seconds']:.0f}s "
                      f"{r['prompt_tokens'] + r['completion_tokens']:,} tokens", highlight=False)

    try:
        return runner.run_suite(suite, agents, base_url, args.model_name, out, timeout=args.timeout,
                                only=[i for i in args.only.split(",") if i], limit=args.limit,
                                locoder_args=tuple(shlex.split(args.locoder_args)), ray_address=args.ray,
                                progress=progress)
    finally:
        if server is not None:
            server.close()


@command("bench", "run a task set with locoder and peer agents on one model server; a table and a plot of the results",
         arguments=_arguments)
def bench(args: argparse.Namespace, call: Invocation) -> int:
    from locoder.bench import report

    console = call.console
    agents = _agents(args, console)
    out = Path(args.out or f"locoder-bench/{args.suite}")
    results = [r for r in _run(args, agents, out, console) if r["agent"] in agents]
    if not results:
        raise LocoderError(f"no results: the task set has no tasks{' matching --only' if args.only else ''}")
    text = report.table(results)
    (out / "report.md").write_text(text + "\n", encoding="utf-8")
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    try:
        console.print(f"plot: {report.plot(results, out / 'results.png', f'locoder bench: {args.suite}')}")
    except ImportError:
        console.print("no plot: pip install 'locoder[plot]' for matplotlib")
    return 0
