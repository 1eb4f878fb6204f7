"""run_command and final_answer."""

from __future__ import annotations

from typing import Any

from locoder.exceptions import Submitted
from locoder.tools.base import ToolContext, ToolOutput, tool
from locoder.tools.tests import command_run


def _preview(workspace: Any, args: dict[str, Any]) -> str:
    return f"$ {args.get('command', '')}"


@tool(effects="run", subject="command", preview=_preview, syntax="bash")
def run_command(ctx: ToolContext, command: str, timeout: int | None = None) -> ToolOutput:
    """Run a shell command in the workspace folder and show its exit code and output.

    Args:
        command: The bash command line to run.
        timeout: Seconds before the command is killed (default from settings).
    """
    result = ctx.run(command, float(timeout) if timeout else None)
    output = result.output.strip() or "(no output)"
    return ToolOutput(f"$ {command}\n[{result.status}]\n{output}", command_run(command, result))


@tool(effects="read", subject="answer")
def final_answer(ctx: ToolContext, answer: str) -> str:
    """Finish the task and give the user your answer. Call it once the task is done.

    Args:
        answer: The answer or a short summary of what was done.
    """
    raise Submitted(answer)
