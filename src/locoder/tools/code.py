"""Tools over the code index: search by meaning or words (search_code, vretr), the outline of a file
(code_outline), the file tree, and building the index and its embeddings (index, emb_index).

The index lives in the state folder's ``index/`` (``StatePaths.index``) and is brought up to date (changed files only) on each call.
``search_code`` fuses BM25 with embeddings once they are built (``locoder emb-index``); before that it
uses BM25 alone, so a call never waits minutes for a first embedding run.
"""

from __future__ import annotations

from locoder.exceptions import LocoderError, ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import check_readable


@tool(effects="read", subject="query")
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

    index = CodeIndex(ctx.workspace, ctx.state_paths)
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


@tool(effects="read", subject="path")
def code_outline(ctx: ToolContext, path: str) -> str:
    """Show the outline of a source file: its imports, definitions with line ranges and signatures,
    and which other files use it. Cheaper than reading the whole file.

    Args:
        path: The file, relative to the workspace.
    """
    from locoder.index import commands
    from locoder.index.search import SearchError

    full = check_readable(ctx.workspace, path)
    try:
        result = commands.do_codectx(ctx.workspace, str(full.relative_to(ctx.workspace.resolve())),
                                   ctx.state_paths)
    except SearchError as exc:
        raise ToolError(str(exc)) from None
    return commands.render(result)


@tool(effects="read", subject="query")
def vretr(ctx: ToolContext, query: str, max_results: int = 8) -> str:
    """Find code by meaning alone (embeddings), for questions whose words differ from the code's names.
    Needs the embeddings (the emb_index tool); search_code is the usual first choice.

    Args:
        query: A description of what the code does, e.g. "retry a request with backoff".
        max_results: How many hits to show.
    """
    from locoder.index import commands
    from locoder.index.search import SearchError, search
    from locoder.index.store import CodeIndex

    index = CodeIndex(ctx.workspace, ctx.state_paths)
    try:
        index.update()
        if not index.vector_count():
            raise ToolError("no embeddings yet: call emb_index first (it takes a while), or use search_code")
        hits = search(index, query, k=max(1, min(max_results, 30)), mode="vector", embedder=commands.embedder())
    except SearchError as exc:
        raise ToolError(str(exc)) from None
    finally:
        index.close()
    return commands.render({"command": "vretr", "query": query, "mode": "vector",
                            "hits": [h.as_dict() for h in hits]})


@tool(effects="read", subject="path")
def tree(ctx: ToolContext, path: str = ".", max_depth: int = 3) -> str:
    """Show the repository's files as a tree (the files git tracks, or those .gitignore allows).

    Args:
        path: The folder to show, relative to the workspace.
        max_depth: How many folder levels to show.
    """
    from locoder.index import commands

    full = check_readable(ctx.workspace, path)
    if not full.is_dir():
        raise ToolError(f"{path} is not a folder")
    rel = str(full.relative_to(ctx.workspace.resolve())) or "."
    return commands.render(commands.do_tree(ctx.workspace, rel, max(1, min(max_depth, 8)), ctx.state_paths))


@tool(effects="read")
def index(ctx: ToolContext) -> str:
    """Build or bring up to date the code index that search_code and code_outline read (changed files
    only). They update it themselves; call this after many files changed to see the counts."""
    from locoder.index import commands

    return commands.render(commands.do_index(ctx.workspace, state=ctx.state_paths))


@tool(effects="read")
def emb_index(ctx: ToolContext) -> str:
    """Compute the embeddings of the code index (slow the first time: minutes on a large repository),
    so that search_code also ranks by meaning and vretr works."""
    from locoder.index import commands

    try:
        return commands.render(commands.do_emb_index(ctx.workspace, state=ctx.state_paths))
    except LocoderError as exc:
        raise ToolError(f"the embedding model is not available: {exc}") from None
