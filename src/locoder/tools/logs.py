"""The ``context`` tool: a digest of log files instead of megabytes of them."""

from __future__ import annotations

from locoder.exceptions import ToolError
from locoder.regular_files import is_regular
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import check_readable, open_confined, resolve_in_workspace


@tool(effects="read", subject="path")
def context(ctx: ToolContext, path: str = "logs", max_tokens: int = 800) -> str:
    """Summarise log files: errors, warnings, exceptions with collapsed stack traces, failed tests, each
    with how often and where it happened first and last. Read logs with this, not with read_file.

    Args:
        path: A log file, or a folder of logs, relative to the workspace (default: logs).
        max_tokens: Size of the summary.
    """
    from locoder.logs.digest import build_digest, render

    target = check_readable(ctx.workspace, path)
    if not target.exists():
        raise ToolError(f"{path} does not exist")
    if not target.is_dir() and not is_regular(target):
        raise ToolError(f"{path} is not a regular file or folder (a FIFO, device or socket); it is not read")
    root = resolve_in_workspace(ctx.workspace, ".")
    digest = build_digest([str(target)], root, opener=lambda p: open_confined(ctx.workspace, p)).as_dict()
    return render(digest, max(100, min(max_tokens, 4000)))
