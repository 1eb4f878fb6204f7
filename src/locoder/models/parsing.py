"""Model output -> tool calls. Pure functions: no I/O, no state.

Accepted, in order: native ``tool_calls``; JSON in the content (bare, inside a code fence, or embedded
in prose); the legacy text form ``Action: tool_name(arg=value, ...)``. Anything else raises
``FormatError`` with a hint the model can act on.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from locoder.exceptions import FormatError
from locoder.messages import Message, ToolCall

THINK_RE = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)
ACTION_RE = re.compile(r"^\s*Action\s*:\s*(\w+)\s*\(", re.MULTILINE)

FORMAT_EXAMPLE = (
    '{"thought": "I need to see the file first.", "tool": "read_file", "arguments": {"path": "main.py"}}'
)


def split_thinking(content: str) -> tuple[str, str]:
    """Separate ``<think>...</think>`` text from the rest; thinking never reaches tool parsing."""
    thoughts = "\n".join(m.strip() for m in THINK_RE.findall(content))
    return THINK_RE.sub("", content).strip(), thoughts


def action_schema(tools: list[dict[str, Any]], max_actions: int = 1) -> dict[str, Any]:
    """JSON schema for constrained decoding: a thought, then one tool (or a list of up to
    ``max_actions`` tools) with arguments valid for that tool."""
    variants = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": t["function"]["name"]},
                "arguments": t["function"]["parameters"],
            },
            "required": ["tool", "arguments"],
        }
        for t in tools
    ]
    if max_actions == 1:
        return {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"thought": {"type": "string"}, **v["properties"]},
                    "required": ["thought", "tool", "arguments"],
                }
                for v in variants
            ]
        }
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string"},
            "actions": {"type": "array", "items": {"anyOf": variants}, "minItems": 1, "maxItems": max_actions},
        },
        "required": ["thought", "actions"],
    }


MAX_NESTING = 64
"""Deepest nesting of lists and objects accepted in tool arguments: no tool needs more, and deeper values
would exhaust the recursion of everything that walks them (redaction, logging, comparison)."""


def too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` deep (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def format_error(problem: str) -> FormatError:
    hint = (
        f"Your last reply could not be used: {problem}. Reply with exactly one JSON object naming one tool, "
        f"for example:\n{FORMAT_EXAMPLE}\nWhen the task is done, use the tool final_answer."
    )
    return FormatError(Message("user", hint), reason=problem)


def parse_tool_calls(
    content: str,
    native: list[ToolCall] | None = None,
    parameters: dict[str, list[str]] | None = None,
    syntax: str = "json",
) -> list[ToolCall]:
    """Turn one model reply into tool calls. ``parameters`` maps tool names to their parameter
    names in order, so positional arguments of the text form can be named. ``syntax`` is the model
    family's own tool-call format (see profiles.py); it is tried first, then every other format."""
    if native:
        for call in native:
            if "__unparsed__" in call.arguments:
                raise format_error(f"the arguments of {call.name or 'the tool call'} are not a valid JSON object")
        return _checked(list(native))
    text, _ = split_thinking(content)
    if not text:
        raise format_error("the reply was empty")
    order = dict.fromkeys([syntax, "json", *TEXT_SYNTAXES])
    for name in order:
        calls = TEXT_SYNTAXES[name](text) if name in TEXT_SYNTAXES else []
        if calls:
            return _checked(calls)
    calls = _calls_from_action_text(text, parameters or {})
    if calls:
        return _checked(calls)
    raise format_error("no tool call was found in it")


def _checked(calls: list[ToolCall]) -> list[ToolCall]:
    for call in calls:
        if too_deep(call.arguments):
            raise format_error(f"the arguments of {call.name} are nested more than {MAX_NESTING} levels deep")
    return calls


def _generic_json(text: str) -> list[ToolCall]:
    for candidate in _json_candidates(text):
        try:
            calls = _calls_from_json(candidate)
        except RecursionError:
            raise format_error("the JSON is nested too deeply to be a tool call") from None
        if calls:
            return calls
    return []


def _loose_value(raw: str) -> Any:
    raw = raw.strip("\n")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


def _qwen3_coder(text: str) -> list[ToolCall]:
    """<function=NAME><parameter=KEY>VALUE</parameter>...</function>"""
    calls = []
    for name, body in re.findall(r"<function=([\w.-]+)>(.*?)(?:</function>|$)", text, re.DOTALL):
        params = re.findall(r"<parameter=([\w.-]+)>(.*?)(?:</parameter>|(?=<parameter=)|$)", body, re.DOTALL)
        calls.append(ToolCall(name, {k: _loose_value(v) for k, v in params}))
    return calls


def _json_calls(found: list[tuple[str, str]]) -> list[ToolCall]:
    """(name, JSON arguments) pairs -> calls; arguments that are not JSON are a format error."""
    calls = []
    for name, args in found:
        try:
            value = json.loads(args)
        except (ValueError, RecursionError):
            raise format_error(f"the arguments of {name} are not valid JSON") from None
        if not isinstance(value, dict):
            raise format_error(f"the arguments of {name} must be a JSON object")
        calls.append(ToolCall(name, value))
    return calls


def _mistral(text: str) -> list[ToolCall]:
    """[TOOL_CALLS]NAME[ARGS]{...} (the list form [TOOL_CALLS][{...}] is plain JSON)."""
    return _json_calls(re.findall(r"\[TOOL_CALLS\]\s*([\w.-]+)\s*\[ARGS\]\s*(\{.*?\})(?=\s*\[TOOL_CALLS\]|\s*</s>|\s*$)",
                                 text, re.DOTALL))


def _deepseek(text: str) -> list[ToolCall]:
    """<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME ```json {...} ```<｜tool▁call▁end｜>"""
    return _json_calls(re.findall(r"tool▁sep｜>\s*([\w.-]+)\s*```(?:json)?\s*(.*?)```", text, re.DOTALL))


def _gemma(text: str) -> list[ToolCall]:
    """```tool_code\nname(arg=value)\n```"""
    calls = []
    for block in re.findall(r"```tool_code\s*(.*?)```", text, re.DOTALL):
        match = re.match(r"\s*(?:print\()?\s*([\w.]+)\s*\(", block)
        parsed = _parse_call_expression(match.group(1), block.strip()) if match else None
        if parsed and not parsed[0]:
            calls.append(ToolCall(match.group(1).rsplit(".", 1)[-1], parsed[1]))
    return calls


def _harmony(text: str) -> list[ToolCall]:
    """gpt-oss: ... to=functions.NAME <|constrain|>json<|message|>{...}<|call|>"""
    return _json_calls(re.findall(r"to=functions\.([\w.-]+).*?<\|message\|>(.*?)(?:<\|call\|>|$)", text, re.DOTALL))


TEXT_SYNTAXES = {
    "json": _generic_json,
    "qwen3-coder": _qwen3_coder,
    "mistral": _mistral,
    "deepseek": _deepseek,
    "gemma": _gemma,
    "harmony": _harmony,
}


MAX_JSON_STARTS = 200
"""Places in a reply where an embedded JSON value is tried: a reply of 50,000 brackets must not take
50,000 parses."""


def _json_candidates(text: str) -> list[Any]:
    found: list[Any] = []
    for block in [text, *FENCE_RE.findall(text)]:
        try:
            found.append(json.loads(block))
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a tool call
            pass
    if found:
        return found
    decoder = json.JSONDecoder()
    for tries, match in enumerate(re.finditer(r"[{\[]", text)):
        if tries >= MAX_JSON_STARTS:
            break
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        found.append(value)
    return found


def _calls_from_json(value: Any) -> list[ToolCall]:
    if isinstance(value, list):
        calls: list[ToolCall] = []
        for item in value:
            calls += _calls_from_json(item)
        return calls
    if not isinstance(value, dict):
        return []
    for key in ("actions", "tool_calls", "calls"):
        if isinstance(value.get(key), list):
            return _calls_from_json(value[key])
    if isinstance(value.get("function"), dict):  # OpenAI-shaped call written as text
        return _calls_from_json(value["function"])
    name = next((value[k] for k in ("tool", "name", "action", "tool_name") if isinstance(value.get(k), str)), None)
    if not name:
        return []
    args = next((value[k] for k in ("arguments", "args", "parameters", "input") if k in value), {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            raise format_error(f"the arguments of {name} are not valid JSON") from None
    if not isinstance(args, dict):
        raise format_error(f"the arguments of {name} must be a JSON object")
    return [ToolCall(name=name, arguments=args, id=str(value.get("id", "")))]


def _calls_from_action_text(text: str, parameters: dict[str, list[str]]) -> list[ToolCall]:
    calls = []
    for match in ACTION_RE.finditer(text):
        name = match.group(1)
        call = _parse_call_expression(name, text[match.start(1) :])
        if call is None:
            raise format_error(f"the arguments of Action: {name}(...) could not be read")
        positional, keywords = call
        names = parameters.get(name, [])
        if len(positional) > len(names):
            raise format_error(f"{name} got {len(positional)} positional arguments; name them instead")
        keywords = {**dict(zip(names, positional)), **keywords}
        calls.append(ToolCall(name=name, arguments=keywords))
    return calls


def _parse_call_expression(name: str, text: str) -> tuple[list[Any], dict[str, Any]] | None:
    """Find the shortest prefix of ``text`` that is a complete call expression, and read its literals."""
    for end in (m.end() for m in re.finditer(r"\)", text)):
        try:
            node = ast.parse(text[:end].strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # too deep, or a NUL byte
            continue
        if not isinstance(node, ast.Call):
            return None
        try:
            positional = [ast.literal_eval(a) for a in node.args]
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            # Bare words are taken as strings: Action: read_file(path=main.py) is common.
            return None
        return positional, keywords
    return None


def thought_of(content: str) -> str:
    """The ``thought`` field of a JSON reply, when there is one (for display and the audit log)."""
    text, _ = split_thinking(content)
    for candidate in _json_candidates(text):
        if isinstance(candidate, dict) and isinstance(candidate.get("thought"), str):
            return candidate["thought"]
    return ""
