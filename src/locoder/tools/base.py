"""A tool is a typed function with a docstring; its JSON schema is derived here, in one place. The tool also
says what it does to the world (its effects) and which argument names its subject, so the guard, the loop,
the summary and the REPL ask the tool instead of keeping lists of tool names.

    @tool(effects="read", subject="path")
    def read_file(ctx: ToolContext, path: str, start_line: int = 1) -> str:
        '''Read a file.

        Args:
            path: File path relative to the workspace.
            start_line: First line to show (1-based).
        '''

A tool returns its text for the model, or a ``ToolOutput`` with typed data beside it (``CommandRun``,
``FileChange``), which sinks read instead of the text.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import time
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locoder.exceptions import StepInterrupt, ToolError
from locoder.locations import StatePaths
from locoder.messages import ToolCall, ToolData, ToolResult
from locoder.safety.secrets import redact
from locoder.sandbox import CommandResult, Sandbox, run_command


@dataclass
class ToolContext:
    """What a tool may touch: the workspace, and the limits it must respect."""

    workspace: Path
    command_timeout: float = 120.0
    command_output_chars: int = 20000
    env: dict[str, str] | None = None
    sandbox: Sandbox | None = None
    """Where commands run; None: unconfined (tests of logic only)."""
    knowledge: Any = None
    """The session's ``locoder.knowledge.Knowledge`` (memory, docs, context7); None: those tools say so."""
    state: StatePaths | None = None
    """The workspace's state (``Settings.state_paths``): where the index lives, what walkers pass by, where
    snippets go; None: the default state folder inside the workspace (``state_paths``)."""
    planner: Any = None
    """``planner(task) -> str``: what is known for planning a task (memories, docs, repo map, code hits,
    log events); None: the plan tool says it is not available."""

    @property
    def state_paths(self) -> StatePaths:
        return self.state or StatePaths.for_workspace(self.workspace)

    @property
    def protected(self) -> tuple[str, ...]:
        """Paths (relative to the workspace) file tools may never write: the state folder, the project
        configuration, ``.git`` (``StatePaths.protected``)."""
        return self.state_paths.protected()

    @property
    def network_allowed(self) -> bool:
        """Whether this session lets tools reach the network (always, when there is no sandbox)."""
        return self.sandbox is None or self.sandbox.policy.network

    def run(self, command: str, timeout: float | None = None, *, longest: float = 0.0) -> CommandResult:
        """Run a shell command for a tool, confined when a sandbox is set. ``timeout`` is capped at
        ``command_timeout``, or at ``longest`` when that is larger (package installs)."""
        cap = max(self.command_timeout, longest)
        limit = min(max(timeout, 1.0), cap) if timeout else cap
        if self.sandbox is not None:
            return self.sandbox.run(command, timeout=limit, max_output=self.command_output_chars)
        return run_command(command, self.workspace, timeout=limit, max_output=self.command_output_chars, env=self.env)


_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_type(annotation: Any) -> tuple[dict[str, Any], bool]:
    """Map a type hint to a JSON schema; the flag says whether ``None`` is allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        schema, _ = _json_type(args[0])
        return schema, len(args) < len(typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        return {"type": "array", "items": _json_type(item)[0]}, False
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}, False
    raise TypeError(f"unsupported tool parameter type {annotation!r}")


def _doc_args(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument help."""
    description, _, rest = doc.partition("Args:")
    args: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        m = re.match(r"\s+(\w+):\s*(.*)", line)
        if m and (current is None or len(line) - len(line.lstrip()) <= _indent(rest)):
            current = m.group(1)
            args[current] = m.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return " ".join(description.split()), args


def _indent(block: str) -> int:
    for line in block.splitlines():
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


EFFECTS = frozenset({"read", "write", "run", "network"})
"""What a call may do: ``read`` (look at the workspace or locoder's own knowledge; building the code index or
saving a memory counts as reading: no workspace file changes), ``write`` (change files of the workspace),
``run`` (run a command or code the model wrote), ``network`` (reach the network)."""
UNKNOWN = EFFECTS
"""The effects of a tool that does not declare them (one defined elsewhere, e.g. by an MCP server): all of
them, so it is asked about, refused in read-only mode and never taken for a read."""


@dataclass(frozen=True)
class ToolOutput:
    """What a tool function may return instead of plain text: the text and typed data beside it."""

    text: str
    data: ToolData | None = None


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., str | ToolOutput]
    types: dict[str, type] = field(default_factory=dict)
    whole: bool = False
    """The tool bounds its own output and it must reach the model whole (read_file's short files), so the
    loop does not cut it to its head and tail."""
    effects: frozenset[str] = UNKNOWN
    subject: str = ""
    """The argument naming what a call acts on (``path``, ``command``, ``code``, ``query``...): policy rules
    match it, an "always" answer of a ``command`` tool is kept per command, and the bandit fills it from the
    request. A ``command`` subject is a shell command line; any ``path`` argument is checked for secret files."""
    preview: Callable[[Path, dict[str, Any]], str] | None = None
    """``preview(workspace, arguments)``: what the user approves before the call runs (the diff of a file
    change, the command line); None: the call as written. May raise ``ToolError`` (the change would fail)."""
    syntax: str = "text"
    """How the preview reads, for highlighting: ``diff``, ``bash``, ``python`` or ``text``."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """The default of each optional argument (the schema leaves them out: the model need not see them)."""

    @property
    def changes(self) -> bool:
        """Whether a call may change the workspace (write files, or run what the model wrote)."""
        return bool(self.effects & {"write", "run"})

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def coerce(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check the arguments against the signature; convert obvious string forms of numbers and booleans."""
        unknown = sorted(set(arguments) - set(self.parameters["properties"]))
        if unknown:
            raise ToolError(
                f"{self.name} takes no argument(s) {', '.join(unknown)}; "
                f"its arguments are: {', '.join(self.parameters['properties'])}"
            )
        missing = [p for p in self.parameters["required"] if arguments.get(p) is None]
        if missing:
            raise ToolError(f"{self.name} needs the argument(s) {', '.join(missing)}")
        return {k: _convert(self.name, k, v, self.types.get(k, str)) for k, v in arguments.items()}


def _convert(tool_name: str, key: str, value: Any, kind: type) -> Any:
    if value is None or kind not in (int, float, bool, str):
        return value
    if kind is bool and isinstance(value, str):
        if value.lower() in {"true", "false"}:
            return value.lower() == "true"
    elif kind is str and isinstance(value, (int, float)):
        return str(value)
    elif kind in (int, float) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return kind(value)
        except ValueError:
            pass
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ToolError(f"{tool_name}: argument '{key}' must be {kind.__name__}, got {value!r}")
    return value


def tool(func: Callable[..., str | ToolOutput] | None = None, *, whole: bool = False,
         effects: str | Iterable[str] | None = None, subject: str = "",
         preview: Callable[[Path, dict[str, Any]], str] | None = None, syntax: str = "text") -> Any:
    """Turn a function whose first parameter is the ``ToolContext`` into a ``Tool`` (``@tool``, or with its
    description: ``@tool(effects="write", subject="path")``; see ``Tool`` for each field). A tool that
    declares no effects gets all of them (``UNKNOWN``)."""
    kinds = UNKNOWN if effects is None else frozenset([effects] if isinstance(effects, str) else effects)
    if not kinds or kinds - EFFECTS:
        raise ValueError(f"a tool's effects are some of {sorted(EFFECTS)}, not {sorted(kinds)}")
    meta = {"whole": whole, "effects": kinds, "subject": subject, "preview": preview, "syntax": syntax}
    if func is None:
        return lambda f: _make_tool(f, meta)
    return _make_tool(func, meta)


def _make_tool(func: Callable[..., str | ToolOutput], meta: dict[str, Any]) -> Tool:
    hints = typing.get_type_hints(func)
    description, arg_help = _doc_args(inspect.getdoc(func) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    kinds: dict[str, type] = {}
    defaults: dict[str, Any] = {}
    for param in list(inspect.signature(func).parameters.values())[1:]:
        schema, nullable = _json_type(hints[param.name])
        if param.name in arg_help:
            schema["description"] = arg_help[param.name]
        properties[param.name] = schema
        base = hints[param.name]
        kinds[param.name] = next((a for a in typing.get_args(base) if a is not type(None)), base)
        if param.default is not inspect.Parameter.empty:
            defaults[param.name] = param.default
        elif not nullable:
            required.append(param.name)
    if meta["subject"] and meta["subject"] not in properties:
        raise ValueError(f"{func.__name__}: its subject {meta['subject']!r} is not one of its arguments")
    parameters = {"type": "object", "properties": properties, "required": required}
    return Tool(func.__name__, description, parameters, func, kinds, defaults=defaults, **meta)


class ToolBox:
    """The tools the agent may call, by name; runs a call and turns every failure into a result."""

    def __init__(self, tools: Iterable[Tool], context: ToolContext) -> None:
        from locoder.safety.secrets import secret_env_values

        self.tools = {t.name: t for t in tools}
        self.context = context
        # Values of the user's secret variables, redacted from every observation wherever they appear.
        self._secrets = tuple(secret_env_values(os.environ))

    def names(self) -> list[str]:
        return list(self.tools)

    def execute(self, call: ToolCall) -> ToolResult:
        start = time.monotonic()
        tool_ = self.tools.get(call.name)
        if tool_ is None:
            return ToolResult(
                call, f"Error: unknown tool '{call.name}'. Available tools: {', '.join(self.tools)}.", ok=False
            )
        data = None
        try:
            output = tool_.func(self.context, **tool_.coerce(call.arguments))
            if isinstance(output, ToolOutput):
                output, data = output.text, output.data
            ok = True
        except StepInterrupt:
            raise
        except ToolError as exc:
            output, ok = f"Error: {exc}", False
        except Exception as exc:  # a tool bug must not end the session; the model sees it
            output, ok = f"Error: {call.name} failed: {type(exc).__name__}: {exc}", False
        return ToolResult(call, redact(output, self._secrets), ok=ok, seconds=time.monotonic() - start,
                          data=self._redacted(data))

    def _redacted(self, data: ToolData | None) -> ToolData | None:
        """The data with secrets redacted from its text (a command line, a diff), as the output is."""
        if data is None:
            return None
        text = {f.name: redact(getattr(data, f.name), self._secrets) for f in dataclasses.fields(data)
                if isinstance(getattr(data, f.name), str) and not f.name.endswith("_hash")}
        return dataclasses.replace(data, **text)
