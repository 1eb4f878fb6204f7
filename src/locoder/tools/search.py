"""grep: ripgrep when it is installed, a Python fallback otherwise; same output either way."""

from __future__ import annotations

from locoder.exceptions import ToolError
from locoder.index.search import SearchError
from locoder.index.search import grep as grep_lines
from locoder.regular_files import is_regular
from locoder.safety.secret_files import ripgrep_excludes
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import check_readable, open_confined, resolve_in_workspace


@tool(effects="read", subject="pattern")
def grep(ctx: ToolContext, pattern: str, path: str = ".", glob: str = "", max_results: int = 50) -> str:
    """Search file contents with a regular expression; prints file:line:text for each match.

    Args:
        pattern: Regular expression to search for.
        path: File or folder to search, relative to the workspace.
        glob: Only search files whose name matches this glob, e.g. "*.py".
        max_results: Most matching lines to show.
    """
    root = check_readable(ctx.workspace, path)
    if not root.exists():
        raise ToolError(f"{path} does not exist")
    if not root.is_dir() and not is_regular(root):
        raise ToolError(f"{path} is not a regular file or folder (a FIFO, device or socket); it is not searched")
    cwd = resolve_in_workspace(ctx.workspace, ".")
    try:
        hits = grep_lines(pattern, root, cwd, glob=glob, limit=max_results,
                          opener=lambda p: open_confined(ctx.workspace, p), excludes=ripgrep_excludes(),
                          skip=ctx.state_paths.skipped(cwd))
    except SearchError as exc:
        raise ToolError(str(exc)) from None
    if not hits:
        return f"no matches for {pattern!r}"
    more = "\n... [more matches; narrow the pattern or path]" if len(hits) > max_results else ""
    return "\n".join(f"{h.path}:{h.line}:{h.text}" for h in hits[:max_results]) + more
