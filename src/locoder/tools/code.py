"""Tools over the code index: search by meaning or words, and the outline of a file.

The index lives in ``.locoder/index/`` and is brought up to date (changed files only) on each call.
``search_code`` fuses BM25 with embeddings once they are built (``locoder emb-index``); before that it
uses BM25 alone, so a call never waits minutes for a first embedding run.
"""

from __future__ import annotations

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import resolve_in_workspace


@tool
def search_code(ctx: ToolContext, query: str, max_results: int = 8) -> str:
    """Find the functions, classes and lines of code that best match a description or some words;
    prints file:lines, the kind and name of each hit, and its signature.

    Args:
        query: What you are looking for, e.g. "where the config file is parsed".
        max_results: How many hits to show.
    """
    from locoder.index import commands
    from locoder.index.search import SearchError, search
    from locoder.index.store import CodeIndex

    index = CodeIndex(ctx.workspace)
    try:
        index.update()
        model = commands.embedder() if index.vector_count() else None
        hits = search(index, query, k=max(1, min(max_results, 30)), mode="hybrid" if model else "lexical",
                      embedder=model)
    except SearchError as exc:
        raise ToolError(str(exc)) from None
    finally:
        index.close()
    result = {"command": "esearch", "query": query, "mode": "hybrid", "hits": [h.as_dict() for h in hits]}
    return commands.render(result)


@tool
def code_outline(ctx: ToolContext, path: str) -> str:
    """Show the outline of a source file: its imports, definitions with line ranges and signatures,
    and which other files use it. Cheaper than reading the whole file.

    Args:
        path: The file, relative to the workspace.
    """
    from locoder.index import commands
    from locoder.index.search import SearchError

    full = resolve_in_workspace(ctx.workspace, path)
    try:
        result = commands.do_codectx(ctx.workspace, str(full.relative_to(ctx.workspace.resolve())))
    except SearchError as exc:
        raise ToolError(str(exc)) from None
    return commands.render(result)
