"""Options several commands share, each defined once: ``--workspace``, the agent's options (settings given as
flags), the search commands' ``--json``; and the helpers every command uses (settings from flags, a progress
bar). Only argparse at import time: ``locoder --help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from locoder.config.settings import CHOICES

S = argparse.SUPPRESS  # options the user did not give stay out of the namespace (config precedence)


def add_workspace(container, default: str = S, help: str | None = None) -> None:
    """The one definition of ``--workspace``/``-w``, left out of the namespace unless given, so that
    ``locoder -w DIR COMMAND`` and ``locoder COMMAND -w DIR`` mean the same. Agent commands leave it to the
    settings' precedence; for the others ``main`` makes it the current folder (``DEFAULT_WORKSPACE``)."""
    container.add_argument("--workspace", "-w", default=default, metavar="DIR", help=help)


DEFAULT_WORKSPACE = "."


def workspace_parent() -> argparse.ArgumentParser:
    """``--workspace`` alone, for commands that read or write only the workspace's state."""
    p = argparse.ArgumentParser(add_help=False)
    add_workspace(p)
    return p


def repo_parent() -> argparse.ArgumentParser:
    """The search commands' ``--workspace`` and ``--json``."""
    p = argparse.ArgumentParser(add_help=False)
    add_workspace(p, help="the repository (default: .)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def agent_parent() -> argparse.ArgumentParser:
    """Every setting that can be given as a flag, for the commands that build a session or read its settings."""
    p = argparse.ArgumentParser(add_help=False)
    _agent_group(p.add_argument_group("agent options"))
    _workflow_group(p.add_argument_group("workflows"))
    _knowledge_group(p.add_argument_group("memory and documentation"))
    _learning_group(p.add_argument_group("learning"))
    _safety_group(p.add_argument_group("safety options"))
    _model_group(p.add_argument_group("model options"))
    return p


def _agent_group(g) -> None:
    add_workspace(g, S, "the only folder the agent reads and writes (default: .)")
    g.add_argument("--model", "-m", default=S, help="embedded model name, a .gguf file, or an http(s)://HOST/v1 URL")
    g.add_argument("--model-name", default=S, help="model id to request from an external server")
    g.add_argument("--tool-mode", default=S, choices=list(CHOICES["tool_mode"]),
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
    g.add_argument("--auto-commit", nargs="?", const="on", default=S, choices=[c for c in CHOICES["auto_commit"] if c],
                   help="commit each task's changes in git (on, off, ask; default: on for run, ask in the session)")
    g.add_argument("--no-auto-commit", dest="auto_commit", action="store_const", const="off", default=S,
                   help="leave each task's changes uncommitted")
    g.add_argument("--verbose", "-v", action="store_true", default=S, help="show whole observations and raw replies")


def _workflow_group(w) -> None:
    w.add_argument("--workflow", default=S, choices=list(CHOICES["workflow"]),
                   help="fix: the bug-fix harness; ask: answers from retrieved code; loop: free-form tools "
                        "(default: auto, from the task)")
    w.add_argument("--attempts", type=int, default=S, metavar="N",
                   help="bug fixes: candidate repairs to try; the first that passes the tests is kept (default: 3)")
    w.add_argument("--repair-form", default=S, choices=list(CHOICES["repair_form"]),
                   help="bug fixes: how the model writes a repair (default: fenced)")
    w.add_argument("--test-cmd", default=S, metavar="CMD",
                   help="the command the automatic checks run the tests with (default: what run_tests finds)")
    w.add_argument("--lint-cmd", default=S, metavar="CMD", help="the checks' linter; {files}: the changed files "
                   "(default: ruff, flake8, eslint, cargo clippy or go vet, as the project shows)")
    w.add_argument("--fix-attempts", type=int, default=S, metavar="N",
                   help="rounds in a row of failing checks shown to the model per task (default: 3)")
    w.add_argument("--no-auto-checks", dest="auto_checks", action="store_false", default=S,
                   help="do not run the tests and linter by themselves after edits")


def _knowledge_group(k) -> None:
    k.add_argument("--no-memory", dest="memory", action="store_false", default=S,
                   help="neither remember tasks and answers nor recall memories with tasks")
    k.add_argument("--memory-vector-dir", default=S, metavar="DIR", help="where the vector memory lives "
                   "(default: memory/ in the state folder, .locoder by default)")
    k.add_argument("--docs-dirs", default=S, metavar="DIRS", help="comma-separated documentation folders (default: docs)")
    k.add_argument("--context7-url", default=S, metavar="URL", help="context7 API base (or CONTEXT7_URL)")
    k.add_argument("--context7-api-key", default=S, metavar="KEY", help="context7 key (better: CONTEXT7_API_KEY)")


def _learning_group(r) -> None:
    r.add_argument("--no-rl", dest="rl", action="store_false", default=S,
                   help="neither suggest tools nor learn from outcomes (the bandit in rl_state.json in the state folder, .locoder by default)")
    r.add_argument("--rl-epsilon", type=float, default=S, metavar="P",
                   help="how often the bandit suggests a random tool to explore (default: 0.05)")
    r.add_argument("--no-rl-hint", dest="rl_hint", action="store_false", default=S,
                   help="show the bandit's suggestions but do not give them to the model")


def _safety_group(sb) -> None:
    sb.add_argument("--sandbox", default=S, choices=list(CHOICES["sandbox"]),
                    help="how commands are confined (default: auto = bubblewrap where it works, else Landlock)")
    sb.add_argument("--mode", default=S, choices=list(CHOICES["mode"]),
                    help="what the agent may change (default: workspace-write)")
    sb.add_argument("--approval", default=S, choices=[c for c in CHOICES["approval"] if c],
                    help="confirm changes and commands (default: ask in the session, auto for run)")
    sb.add_argument("--toolset", default=S, choices=list(CHOICES["toolset"]),
                    help="core tools, or all (adds run_python, install_package, download_file, search_web)")
    sb.add_argument("--allow-network", dest="network", action="store_true", default=S,
                    help="let model-run commands reach the network")
    sb.add_argument("--env-allow", default=S, metavar="NAMES",
                    help="comma-separated secret-looking environment variables commands may see")


def _model_group(m) -> None:
    m.add_argument("--backend", default=S, choices=list(CHOICES["backend"]),
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
    m.add_argument("--device-map", default=S, choices=list(CHOICES["device_map"]), help="transformers: device")
    m.add_argument("--torch-dtype", default=S, choices=list(CHOICES["torch_dtype"]), help="transformers")
    m.add_argument("--quantization", default=S, choices=list(CHOICES["quantization"]), help="transformers: bitsandbytes")
    m.add_argument("--trust-remote-code", action="store_true", default=S, help="transformers: run the model's code")
    m.add_argument("--low-cpu-mem-usage", action="store_true", default=S, help="transformers")
    m.add_argument("--gguf-file", default=S, help="transformers: load this GGUF file (gguf_file=)")


# The shared parents by the name a command gives in ``Command.parents``; built once per parser.
PARENTS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "agent": agent_parent, "repo": repo_parent, "workspace": workspace_parent}


def settings_from(args: argparse.Namespace):
    """Settings with the flags the user gave (those of the namespace that are settings)."""
    from dataclasses import fields

    from locoder.config import Settings, load_settings

    names = {f.name for f in fields(Settings)}
    return load_settings({k: v for k, v in vars(args).items() if k in names})


def progress(console) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A transient progress bar: ``update(label, done, total)`` and ``stop()``."""
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

    def stop() -> None:
        if tasks:  # a bar never started prints an empty line where the output is not a terminal
            bar.stop()

    return update, stop
