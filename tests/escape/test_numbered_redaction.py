"""Secrets in config files stay redacted when the line carries a number in front: read_file's own numbering,
``cat -n`` and ``grep -n`` in a command, and the grep tool. Through the agent's tools, per runner."""

import pytest

from escape.world import RUNNERS
from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.tools import ToolBox, ToolContext, default_tools

CONFIG = "db:\n  host: localhost\n  password: hunter2-Sup3rSecret\n  api_key: zq8Vx2Lm9Pw4Rt7Y\nport: 5432\n"
VALUES = ("hunter2-Sup3rSecret", "zq8Vx2Lm9Pw4Rt7Y")


@pytest.fixture(params=RUNNERS)
def box(request, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "config.yaml").write_text(CONFIG)
    sandbox = Sandbox(workspace, SandboxPolicy(runner=request.param, cpu_seconds=5, memory_mb=2048))
    return ToolBox(default_tools(), ToolContext(workspace=workspace, command_timeout=10, command_output_chars=4000,
                                                sandbox=sandbox))


@pytest.mark.parametrize("tool,arguments", [
    ("read_file", {"path": "config.yaml"}),
    ("read_file", {"path": "config.yaml", "start_line": 2, "end_line": 4}),
    ("grep", {"pattern": "password|api_key"}),
    ("run_command", {"command": "cat -n config.yaml"}),
    ("run_command", {"command": "grep -n -e password -e api_key config.yaml"}),
    ("run_command", {"command": "nl -ba config.yaml"}),
])
def test_numbered_lines_do_not_stop_redaction(box, tool, arguments):
    result = box.execute(ToolCall(tool, arguments))
    assert result.ok, result.output
    assert result.output.count("[REDACTED:") == 2, result.output
    for value in VALUES:
        assert value not in result.output, result.output
