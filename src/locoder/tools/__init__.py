"""The agent's tools. Each is a typed function; ``default_tools`` is the set the agent starts with."""

from __future__ import annotations

from locoder.tools.base import Tool, ToolBox, ToolContext, tool
from locoder.tools.files import edit_file, list_files, read_file, write_file
from locoder.tools.search import grep
from locoder.tools.shell import final_answer, run_command


def default_tools() -> list[Tool]:
    return [list_files, read_file, grep, write_file, edit_file, run_command, final_answer]


__all__ = ["Tool", "ToolBox", "ToolContext", "default_tools", "tool"]
