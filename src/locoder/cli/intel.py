"""``locoder intel`` (and ``/intel QUESTION`` in the session): a question about the project answered from
memory, docs and code, citing the evidence."""

from __future__ import annotations

import argparse

from locoder.cli.registry import Invocation, Slash, command, text
from locoder.exceptions import LocoderError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--query", "-q", required=True, metavar="TEXT")
    p.add_argument("--no-model", action="store_true", help="only gather and rank the evidence")
    p.add_argument("-k", type=int, default=8, help="pieces of evidence (default: 8)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _evidence(args: argparse.Namespace, settings) -> tuple[list, list]:
    from locoder.knowledge import Knowledge
    from locoder.knowledge.gather import gather

    knowledge = Knowledge(settings)
    try:
        return gather(settings.workspace_path, args.query, state=settings.state_paths,
                      store=knowledge.store if settings.memory else None, embedder=knowledge.embedder,
                      docs_dirs=settings.docs_dirs, context7=knowledge.context7, k=args.k,
                      context7_chars=settings.context7_chars)
    finally:
        knowledge.close()


def _answer(result, settings, call: Invocation) -> None:
    from locoder.knowledge.intel import answer_with, cited_numbers

    with call.model_for(settings) as model:
        try:
            result.answer = answer_with(model, result.query, result.evidence)
        except LocoderError as exc:
            result.answer = "The model could not answer; the evidence, best first:"
            result.notes.append(str(exc))
    result.cited = cited_numbers(result.answer, len(result.evidence))
    if not result.cited:
        result.notes.append("the answer cites none of the evidence; check it against the sources")


@command("intel", "answer a question about the project, citing evidence", arguments=_arguments,
         parents=("agent",), tool="intel", slash=Slash("QUESTION", text("--query")))
def intel(args: argparse.Namespace, call: Invocation) -> int:
    import json

    from locoder.agent.factory import prepare_state
    from locoder.knowledge.intel import IntelAnswer, render

    settings = call.settings(args)
    prepare_state(settings)
    evidence, notes = _evidence(args, settings)
    result = IntelAnswer(args.query, "", evidence, notes=notes)
    if not evidence:
        result.answer = "Nothing in memory, docs or code matches the question."
    elif args.no_model:
        result.answer = "Evidence, best first (no model asked):"
    else:
        _answer(result, settings, call)
    data = result.as_dict()
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        call.console.print(render(data), highlight=False, markup=False, soft_wrap=True)
    return 0
