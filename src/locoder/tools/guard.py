"""Policy and approvals as a wrapper around the tools: the loop never knows they exist.

A call is checked, in order, against: secret files (always refused to file tools), the user's deny rules,
the mode (read-only refuses changes), the user's allow rules (run without asking), and the approval
setting for tools that change things (ask the user, run, or refuse).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from locoder.exceptions import ToolError
from locoder.messages import ToolCall, ToolResult
from locoder.safety import commands
from locoder.tools.base import Tool, ToolBox
from locoder.tools.paths import SECRET_FILES, is_secret_file, secret_refusal

__all__ = ["SECRET_FILES", "GuardedToolBox", "Rule", "ToolPolicy", "is_secret_file", "preview"]

Approver = Callable[[ToolCall, str], str]
"""approver(call, preview) -> "yes" | "no" | "always"."""


def registered(name: str) -> Tool | None:
    """The tool of locoder's own belt with this name (for callers that hold a call but not its tool)."""
    from locoder.tools import all_tools

    return next((t for t in all_tools() if t.name == name), None)


def _subject(call: ToolCall, tool: Tool | None) -> str:
    """The value of the call's subject argument (empty when the tool names none)."""
    return str(call.arguments.get(tool.subject) or "") if tool is not None and tool.subject else ""


def _shell(tool: Tool | None) -> bool:
    """Whether the tool's subject is a shell command line (rules then look at each simple command in it)."""
    return tool is not None and tool.subject == "command"


@dataclass(frozen=True)
class Rule:
    """``tool:pattern``: a glob (or ``re:REGEX``) matched against the call's subject (its command, path,
    code...: the argument the tool names as its subject)."""

    tool: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> Rule:
        tool, sep, pattern = text.partition(":")
        if not sep or not tool:
            raise ValueError(f"a policy rule is TOOL:PATTERN (e.g. run_command:git push*), not {text!r}")
        if pattern.startswith("re:"):
            re.compile(pattern[3:])
        return cls(tool.strip(), pattern.strip() or "*")

    def matches(self, call: ToolCall, tool: Tool | None = None) -> bool:
        """For a deny rule. A command matches when the raw line, or any simple command in it (parsed, made
        plain: ``cd . && /bin/rm -r -f x`` holds ``rm -rf x``), matches. ``tool``: the call's tool (default:
        the registered one of that name)."""
        if self.tool not in ("*", call.name):
            return False
        tool = tool if tool is not None else registered(call.name)
        subject = _subject(call, tool)
        if _shell(tool):
            return commands.any_command_matches(subject, self.matches_text)
        return self.matches_text(subject)

    def matches_text(self, subject: str) -> bool:
        if self.pattern.startswith("re:"):
            return re.search(self.pattern[3:], subject) is not None
        return fnmatch.fnmatchcase(subject, self.pattern)


def allowed(rules: tuple[Rule, ...], call: ToolCall, tool: Tool | None = None) -> bool:
    """Whether allow ``rules`` let ``call`` run without asking: for a command, every simple command in it must
    be matched (``pytest*`` does not allow ``pytest; rm -rf ~``)."""
    mine = [rule for rule in rules if rule.tool in ("*", call.name)]
    if not mine:
        return False
    tool = tool if tool is not None else registered(call.name)
    subject = _subject(call, tool)
    if _shell(tool):
        return commands.every_command_matches(subject, lambda s: any(rule.matches_text(s) for rule in mine))
    return any(rule.matches_text(subject) for rule in mine)


@dataclass
class ToolPolicy:
    mode: str = "workspace-write"
    """``read-only``, ``workspace-write`` or ``full-access``."""
    approval: str = "auto"
    """``ask`` (show and confirm), ``auto`` (run), ``never`` (refuse what would need approval)."""
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    protect_secret_files: bool = True


@dataclass
class GuardedToolBox:
    """Same face as ``ToolBox``; checks each call before the inner box runs it."""

    inner: ToolBox
    policy: ToolPolicy
    approver: Approver | None = None
    always: set[str] = field(default_factory=set)
    _asked: str = field(default="", repr=False)
    """The user's answer for the call being checked (empty: they were not asked)."""

    @property
    def tools(self) -> dict[str, Any]:
        return self.inner.tools

    @property
    def context(self) -> Any:
        return self.inner.context

    def names(self) -> list[str]:
        return self.inner.names()

    def execute(self, call: ToolCall) -> ToolResult:
        self._asked = ""
        refusal = self.check(call)
        if refusal:
            return ToolResult(call, f"Refused: {refusal}", ok=False, approval="no" if self._asked else "")
        result = self.inner.execute(call)
        result.approval = "yes" if self._asked else ""
        return result

    def check(self, call: ToolCall) -> str | None:
        """Why the call may not run, or None."""
        tool = self.inner.tools.get(call.name)
        if tool is None:
            return None  # the inner box answers with the tools there are
        path = str(call.arguments.get("path") or "")
        if self.policy.protect_secret_files and path:
            # By the name given and by what it resolves to: a link to .env is .env.
            refusal = secret_refusal(self.inner.context.workspace, path)
            if refusal:
                return refusal
        for rule in self.policy.deny:
            if rule.matches(call, tool):
                return f"the project's policy denies {call.name} on {_subject(call, tool)!r} (rule {rule.tool}:{rule.pattern})"
        if not tool.changes:
            return None
        if self.policy.mode == "read-only" and "write" in tool.effects:
            # Commands and code may run: the sandbox keeps them from writing.
            return f"this session is read-only; {call.name} would change the workspace"
        if allowed(self.policy.allow, call, tool) or self._key(call, tool) in self.always:
            return None
        if self.policy.approval == "auto":
            return None
        if self.policy.approval == "never" or self.approver is None:
            return f"{call.name} needs the user's approval, and approval is set to never"
        answer = self.approver(call, preview(call, self.inner.context.workspace, tool))
        self._asked = answer
        if answer == "always":
            self.always.add(self._key(call, tool))
            return None
        return None if answer == "yes" else "the user declined this action; do something else or ask what they want"

    @staticmethod
    def _key(call: ToolCall, tool: Tool) -> str:
        # "always" is remembered per command for commands, per tool for everything else.
        return f"{call.name}:{_subject(call, tool)}" if _shell(tool) else call.name


def preview(call: ToolCall, workspace: Any, tool: Tool | None = None) -> str:
    """What the user is asked to approve: the tool's own preview (the exact command, the code, the diff a file
    change would make), or the call as written."""
    tool = tool if tool is not None else registered(call.name)
    if tool is None or tool.preview is None:
        return call.render(max_value=200)
    try:
        return tool.preview(workspace, call.arguments)
    except ToolError as exc:
        return f"(the change would fail: {exc})"
