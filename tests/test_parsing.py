import pytest

from locoder.exceptions import FormatError
from locoder.messages import ToolCall
from locoder.models.parsing import action_schema, parse_tool_calls, split_thinking, thought_of
from locoder.tools import default_tools

PARAMS = {"read_file": ["path", "start_line", "end_line"], "run_command": ["command", "timeout"]}


def test_native_tool_calls_win():
    native = [ToolCall("read_file", {"path": "a.py"})]
    assert parse_tool_calls('{"tool": "grep", "arguments": {}}', native) == native


def test_bare_json_action():
    calls = parse_tool_calls('{"thought": "x", "tool": "read_file", "arguments": {"path": "a.py"}}')
    assert calls == [ToolCall("read_file", {"path": "a.py"})]


def test_json_in_code_fence_with_prose():
    text = 'I will read it.\n```json\n{"name": "read_file", "arguments": {"path": "b.py"}}\n```\nDone.'
    assert parse_tool_calls(text) == [ToolCall("read_file", {"path": "b.py"})]


def test_json_embedded_in_prose_without_fence():
    text = 'Sure! {"tool": "run_command", "args": {"command": "ls"}} is what I will do.'
    assert parse_tool_calls(text) == [ToolCall("run_command", {"command": "ls"})]


def test_openai_shaped_call_with_string_arguments():
    text = '{"function": {"name": "grep", "arguments": "{\\"pattern\\": \\"def\\"}"}}'
    assert parse_tool_calls(text) == [ToolCall("grep", {"pattern": "def"})]


def test_actions_list_keeps_order():
    text = '{"thought": "t", "actions": [{"tool": "a", "arguments": {}}, {"tool": "b", "arguments": {"x": 1}}]}'
    assert [c.name for c in parse_tool_calls(text)] == ["a", "b"]


def test_legacy_action_text_with_keywords():
    text = "Thought: look at it\nAction: read_file(path=\"src/x.py\", start_line=3)"
    assert parse_tool_calls(text, parameters=PARAMS) == [ToolCall("read_file", {"path": "src/x.py", "start_line": 3})]


def test_legacy_action_positional_arguments_are_named():
    text = "Action: run_command('pytest -q', 30)"
    assert parse_tool_calls(text, parameters=PARAMS) == [ToolCall("run_command", {"command": "pytest -q", "timeout": 30})]


def test_legacy_action_multiline_string_with_parentheses():
    text = 'Action: write_file(path="f.py", content="def f():\\n    return (1)\\n")'
    call = parse_tool_calls(text)[0]
    assert call.arguments["content"] == "def f():\n    return (1)\n"


def test_legacy_action_with_bare_word_is_a_format_error():
    with pytest.raises(FormatError, match="could not be read"):
        parse_tool_calls("Action: read_file(path=main.py)")


def test_thinking_is_kept_out_of_parsing():
    text = '<think>maybe {"tool": "wrong", "arguments": {}}</think>{"tool": "right", "arguments": {}}'
    assert parse_tool_calls(text)[0].name == "right"
    visible, thoughts = split_thinking(text)
    assert "wrong" in thoughts and "wrong" not in visible


@pytest.mark.parametrize("text", ["", "   ", "I think the answer is 42.", '{"answer": 42}', "[1, 2, 3]"])
def test_unusable_output_is_a_format_error_with_an_example(text):
    with pytest.raises(FormatError) as info:
        parse_tool_calls(text)
    hint = info.value.messages[0].content
    assert '"tool"' in hint and "final_answer" in hint


def test_arguments_that_are_not_an_object():
    with pytest.raises(FormatError, match="must be a JSON object"):
        parse_tool_calls('{"tool": "grep", "arguments": [1]}')


def test_thought_of():
    assert thought_of('{"thought": "read it", "tool": "x", "arguments": {}}') == "read it"
    assert thought_of("plain") == ""


def test_action_schema_single_and_multi():
    schemas = [t.openai_schema() for t in default_tools()]
    one = action_schema(schemas, 1)
    names = [v["properties"]["tool"]["const"] for v in one["anyOf"]]
    assert names == [t.name for t in default_tools()]
    assert all(v["required"] == ["thought", "tool", "arguments"] for v in one["anyOf"])
    many = action_schema(schemas, 3)
    assert many["properties"]["actions"]["maxItems"] == 3
