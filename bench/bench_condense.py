"""Tokens sent per turn over a 40-turn scripted session, with and without context condensation.

Run: .venv/bin/python bench/bench_condense.py [--window 8192] [--max-tokens 1024] [--turns 40]
                                             [--tokenizer FILE.gguf | --estimate] [--json]

The session is real work on a real project in a temporary git repository, with scripted replies: reading
modules, grepping, editing, running a script whose output is long, and a check that fails and is fixed,
then a final answer. Each reply is the same in both runs; only ``AgentConfig.condense`` differs. Tokens are
counted with the embedded model's tokenizer (Qwen2.5-Coder's, read from its GGUF by transformers) when it is
installed, else estimated; where the tokenizer has a chat template, each request is also rendered with it and
counted exactly (``template``), to check the loop's count and margin against the real prompt size;
``--estimate`` makes the loop estimate while the template column still shows the real size.
Prints a table (one row per turn) and the totals; ``--json`` prints one JSON line with every number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.prompts import system_prompt
from locoder.agent.window import TokenCounter, margin
from locoder.models.scripted import ScriptedModel
from locoder.tools import ToolBox, ToolContext, default_tools

DEFAULT_GGUF = Path.home() / ".cache/locoder/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
TASK = "Make report.py print a correct total for every region, and check it"


def module(i: int) -> str:
    body = "\n".join(textwrap.dedent(f'''
        def region_{i}_{j}(rows):
            """Sum the sales of region {i}.{j}: rows of (region, amount)."""
            total = 0
            for region, amount in rows:
                if region == "{i}.{j}":
                    total += amount
            return total
    ''') for j in range(12))
    return f'"""Sales of region group {i}."""\n{body}\n'


def make_project(root: Path) -> Path:
    repo = root / "project"
    repo.mkdir()
    for i in range(6):
        (repo / f"sales_{i}.py").write_text(module(i))
    (repo / "report.py").write_text(textwrap.dedent('''
        import sys
        ROWS = [(f"{g}.{r}", (g * 12 + r) % 7 + 1) for g in range(6) for r in range(12)] * 20
        def total(rows):
            return sum(amount for _, amount in rows[1:])
        for n, (region, amount) in enumerate(ROWS):
            print(f"row {n:4d} region {region:>5} amount {amount:3d} running {total(ROWS[: n + 1]):6d}")
        if total(ROWS) != sum(a for _, a in ROWS):
            sys.exit("total is wrong: the first row is skipped")
    '''))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "init"],
                   cwd=repo, check=True)
    return repo


def act(tool: str, thought: str, **arguments: Any) -> str:
    return json.dumps({"thought": thought, "tool": tool, "arguments": arguments})


def replies(turns: int) -> list[str]:
    """``turns - 1`` tool calls and a final answer: look, run, fix, then go through every module."""
    out = [act("list_files", "see the project", path="."),
           act("read_file", "read the report", path="report.py"),
           act("run_command", "run it", command="python3 report.py"),
           act("edit_file", "the first row is skipped", path="report.py",
               search="    return sum(amount for _, amount in rows[1:])",
               replace="    return sum(amount for _, amount in rows)"),
           act("run_command", "run it again", command="python3 report.py | tail -n 400")]
    i = 0
    while len(out) < turns - 1:
        group, kind = divmod(i, 3)
        group %= 6
        if kind == 0:
            out.append(act("read_file", f"check group {group}", path=f"sales_{group}.py", start_line=1 + i // 18))
        elif kind == 1:
            out.append(act("grep", f"where group {group} is used", pattern=f"region_{group}_{i % 12}\\b"))
        else:
            out.append(act("run_command", f"rows of group {group}",
                           command=f"python3 report.py | grep 'region *{group}\\.' | head -n {60 + i}"))
        i += 1
    return [*out[: turns - 1], act("final_answer", "done", answer="report.py sums every row now")]


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def template_tokens(tokenizer: Any, messages: list) -> int | None:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    ids = tokenizer.apply_chat_template([m.to_wire() for m in messages], add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    return len(ids)


def run_session(repo: Path, args: argparse.Namespace, tokenizer: Any, condense: bool) -> list[dict[str, Any]]:
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    model = ScriptedModel(replies(args.turns))
    if tokenizer is not None and not args.estimate:
        model.count_tokens = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # type: ignore[attr-defined]
    box = ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=60))
    config = AgentConfig(max_steps=args.turns + 1, context_window=args.window, max_tokens=args.max_tokens,
                         condense=condense)
    steps: list[Any] = []

    class Steps:
        def emit(self, event: Any) -> None:
            if event.type == "step":
                steps.append(event)

    prompt = system_prompt([t.openai_schema() for t in box.tools.values()], repo, python="python3")
    agent = Agent(model, box, config, prompt, sinks=[Steps()])
    result = agent.run(TASK)
    if not result.ok:
        sys.exit(f"the scripted session did not finish: {result.stop}: {result.answer}")
    counter = TokenCounter(model)
    return [{"turn": n + 1, "messages": len(r["messages"]), "tokens": counter.messages(r["messages"]),
             "template": template_tokens(tokenizer, r["messages"]),
             "condensed": (steps[n].condensed or {}).get("messages", 0) if n < len(steps) else 0}
            for n, r in enumerate(model.requests)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=8192)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_GGUF, help="a GGUF whose tokenizer counts")
    parser.add_argument("--estimate", action="store_true",
                        help="the loop counts by estimate (the template column still uses the tokenizer)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_project(Path(tmp))
        off = run_session(repo, args, tokenizer, condense=False)
        on = run_session(repo, args, tokenizer, condense=True)
    budget = args.window - args.max_tokens - margin(args.window)
    counted = "estimate" if args.estimate or tokenizer is None else "tokenizer " + args.tokenizer.name
    report(args, off, on, budget, counted)


def report(args: argparse.Namespace, off: list[dict], on: list[dict], budget: int, counter: str) -> None:
    if args.json:
        print(json.dumps({"window": args.window, "max_tokens": args.max_tokens, "budget": budget,
                          "counter": counter, "without": off, "with": on}))
        return
    print(f"{args.turns}-turn scripted session; window {args.window}, max_tokens {args.max_tokens}, "
          f"budget {budget} tokens; counted by {counter}")
    print(f"{'turn':>4} | {'without: msgs':>13} {'tokens':>7} {'template':>8} | "
          f"{'with: msgs':>10} {'tokens':>7} {'template':>8} {'condensed':>9}")
    for a, b in zip(off, on):
        print(f"{a['turn']:>4} | {a['messages']:>13} {a['tokens']:>7} {a['template'] or '-':>8} | "
              f"{b['messages']:>10} {b['tokens']:>7} {b['template'] or '-':>8} {b['condensed'] or '':>9}")
    for name, rows in (("without", off), ("with", on)):
        over = sum(r["tokens"] > budget for r in rows)
        exact = [r["template"] for r in rows if r["template"]]
        print(f"{name:>7} condensation: {sum(r['tokens'] for r in rows):,} tokens sent in all, at most "
              f"{max(r['tokens'] for r in rows):,} in one turn" + (f" ({max(exact):,} by the template)" if exact
                                                                   else "")
              + f"; {over} turns over the budget, {sum(bool(r['condensed']) for r in rows)} condensations")


if __name__ == "__main__":
    main()
