"""The agent's tools. Each is a typed function; ``default_tools`` is the set the agent starts with."""

from __future__ import annotations

from locoder.tools.base import Tool, ToolBox, ToolContext, tool
from locoder.tools.files import edit_file, list_files, read_file, write_file
from locoder.tools.search import grep
from locoder.tools.shell import final_answer, run_command
from locoder.tools.tests import run_tests


def default_tools() -> list[Tool]:
    """The core tools: every session has them."""
    return [list_files, read_file, grep, write_file, edit_file, run_command, run_tests, final_answer]


def all_tools() -> list[Tool]:
    """The core tools and the rest of the tool belt (tests, code search and outlines, the tree, the index,
    logs, planning, memory, docs, context7, Python snippets, packages, downloads, web search)."""
    from locoder.tools.code import code_outline, emb_index, index, search_code, tree, vretr
    from locoder.tools.extra import extra_tools
    from locoder.tools.knowledge import call_context7, docs_lookup, intel, plan, recall, remember
    from locoder.tools.logs import context

    core = default_tools()
    return [*core[:-1], search_code, code_outline, tree, vretr, index, emb_index, context, plan,
            remember, recall, docs_lookup, call_context7, intel, *extra_tools(), core[-1]]


__all__ = ["Tool", "ToolBox", "ToolContext", "all_tools", "default_tools", "tool"]
