"""Tools over what the agent knows: remember and recall (vector memory), docs_lookup (the project's
documentation), call_context7 (library documentation from context7)."""

from __future__ import annotations

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool


def _knowledge(ctx: ToolContext):
    if ctx.knowledge is None:
        raise ToolError("memory and documentation lookup are not available in this session")
    return ctx.knowledge


@tool(effects="read", subject="note")
def remember(ctx: ToolContext, note: str) -> str:
    """Save a fact worth knowing in later sessions (how to run the tests, a convention, a decision).

    Args:
        note: The fact, in one or two sentences.
    """
    try:
        memory = _knowledge(ctx).store.add(note, "note")
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return f"remembered as memory #{memory.id}"


@tool(effects="read", subject="query")
def recall(ctx: ToolContext, query: str, max_results: int = 5) -> str:
    """Search what earlier sessions remembered: notes, past tasks and their answers.

    Args:
        query: What you want to know, e.g. "how are the tests run".
        max_results: Most memories to show.
    """
    from locoder.knowledge.gather import memory_evidence

    try:
        found = memory_evidence(_knowledge(ctx).store, query, k=max(1, min(max_results, 20)), min_score=0.2)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    if not found:
        return f"nothing remembered about {query!r}"
    return "\n".join(f"{e.cite} score {e.score:.2f}: {e.text}" for e in found)


@tool(effects="read", subject="query")
def docs_lookup(ctx: ToolContext, query: str, max_results: int = 4) -> str:
    """Search the project's documentation (docs/, the README, docstrings) and show the best passages
    with where they are.

    Args:
        query: What you want to know, e.g. "how to configure the server port".
        max_results: Most passages to show.
    """
    from locoder.index.store import CodeIndex
    from locoder.knowledge.gather import docs_evidence

    knowledge = _knowledge(ctx)
    index = CodeIndex(ctx.workspace, ctx.state_paths)
    try:
        index.update()
        found = docs_evidence(index, knowledge.embedder, query, knowledge.settings.docs_dirs,
                              k=max(1, min(max_results, 10)), min_score=0.2)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    finally:
        index.close()
    if not found:
        return f"no documentation passage matches {query!r}"
    return "\n\n".join(f"[{e.cite}] (score {e.score:.2f})\n{e.text[:1200]}" for e in found)


@tool(effects="network", subject="library")
def call_context7(ctx: ToolContext, library: str, topic: str = "") -> str:
    """Fetch up-to-date documentation of a third-party library from context7.

    Args:
        library: The library's name (e.g. "fastapi") or context7 id (e.g. "/tiangolo/fastapi").
        topic: What to look up in it, e.g. "dependency injection".
    """
    from locoder.knowledge.context7 import Context7Error
    from locoder.knowledge.gather import context7_evidence

    knowledge = _knowledge(ctx)
    if knowledge.context7 is None:
        return "context7 is not configured: set CONTEXT7_URL (and CONTEXT7_API_KEY) to use it"
    try:
        found = context7_evidence(knowledge.context7, topic or library, library=library, k=5,
                                  chars=knowledge.settings.context7_chars)
    except Context7Error as exc:
        return f"context7: {exc}"
    if not found:
        return f"context7 has nothing for {library!r}"
    return "\n".join(f"[{e.cite}] {e.text}" for e in found)


@tool(effects=("read", "network"), subject="question")
def intel(ctx: ToolContext, question: str, max_results: int = 6) -> str:
    """Gather evidence about the project for a question, from memory, documentation and code (and
    context7 when those have nothing), ranked and numbered with citations to quote in your answer.

    Args:
        question: The question, e.g. "how does the cache get invalidated?".
        max_results: Pieces of evidence to show.
    """
    from locoder.knowledge.gather import gather
    from locoder.knowledge.intel import evidence_block

    knowledge = _knowledge(ctx)
    s = knowledge.settings
    evidence, notes = gather(ctx.workspace, question, state=ctx.state_paths,
                             store=knowledge.store if s.memory else None,
                             embedder=knowledge.embedder, docs_dirs=s.docs_dirs, context7=knowledge.context7,
                             k=max(1, min(max_results, 12)), context7_chars=s.context7_chars)
    if not evidence:
        return "no evidence found in memory, documentation or code"
    return evidence_block(evidence, chars=500) + "".join(f"\n(note: {n})" for n in notes)


@tool(effects="read", subject="task")
def plan(ctx: ToolContext, task: str) -> str:
    """Gather what is known for a larger task before acting: memories, documentation, the files and
    definitions that matter, code that matches, and errors in logs/. Then write your numbered steps.

    Args:
        task: The task to plan, in a sentence.
    """
    if ctx.planner is None:
        raise ToolError("planning context is not available in this session")
    found = ctx.planner(task)
    if not found.strip():
        return "nothing known about this task yet: look at the tree, then search the code"
    return f"{found}\n\nNow write the steps (files to change, commands to run) and carry out the first one."
