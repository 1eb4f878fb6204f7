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


# --- model-family syntaxes (written in text when the server does not parse them) ---

def test_hermes_tool_call_tags_qwen():
    text = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    assert parse_tool_calls(text, syntax="json") == [ToolCall("read_file", {"path": "a.py"})]


def test_llama_python_tag_with_parameters():
    text = '<|python_tag|>{"name": "grep", "parameters": {"pattern": "TODO"}}'
    assert parse_tool_calls(text) == [ToolCall("grep", {"pattern": "TODO"})]


def test_qwen3_coder_xml_parameters():
    text = ("<tool_call>\n<function=write_file>\n<parameter=path>\nx.py\n</parameter>\n"
            "<parameter=content>\nprint(1)\nprint(2)\n</parameter>\n</function>\n</tool_call>")
    assert parse_tool_calls(text, syntax="qwen3-coder") == [
        ToolCall("write_file", {"path": "x.py", "content": "print(1)\nprint(2)"})]


def test_qwen3_coder_numbers_are_json_values():
    text = "<function=read_file><parameter=path>a.py</parameter><parameter=start_line>5</parameter></function>"
    assert parse_tool_calls(text, syntax="qwen3-coder")[0].arguments == {"path": "a.py", "start_line": 5}


def test_mistral_both_forms():
    assert parse_tool_calls('[TOOL_CALLS]grep[ARGS]{"pattern": "x"}', syntax="mistral") == [ToolCall("grep", {"pattern": "x"})]
    listed = '[TOOL_CALLS][{"name": "list_files", "arguments": {}}]'
    assert parse_tool_calls(listed, syntax="mistral") == [ToolCall("list_files", {})]


def test_deepseek_tool_call_tokens():
    text = ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>run_command\n```json\n"
            '{"command": "pytest -q"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>')
    assert parse_tool_calls(text, syntax="deepseek") == [ToolCall("run_command", {"command": "pytest -q"})]


def test_gemma_tool_code_block():
    text = 'I will look.\n```tool_code\nread_file(path="main.py", start_line=2)\n```'
    assert parse_tool_calls(text, syntax="gemma") == [ToolCall("read_file", {"path": "main.py", "start_line": 2})]


def test_gpt_oss_harmony_channel():
    text = ('<|channel|>analysis<|message|>Need the file.<|end|><|start|>assistant<|channel|>commentary '
            'to=functions.read_file <|constrain|>json<|message|>{"path": "a.py"}<|call|>')
    assert parse_tool_calls(text, syntax="harmony") == [ToolCall("read_file", {"path": "a.py"})]


def test_every_syntax_is_tried_whatever_the_profile_says():
    text = '[TOOL_CALLS]grep[ARGS]{"pattern": "x"}'
    assert parse_tool_calls(text, syntax="gemma") == [ToolCall("grep", {"pattern": "x"})]
