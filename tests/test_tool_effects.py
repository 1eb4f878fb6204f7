"""Tools describe themselves (effects, subject argument, preview) and hand typed data beside their text; the
guard, the loop and the summary ask the tool, so one defined elsewhere fits the same description."""

import hashlib
import sys

import pytest

from locoder.messages import CommandRun, FileChange, TestCounts, ToolCall
from locoder.tools import ToolBox, ToolContext, all_tools, default_tools, tool
from locoder.tools.base import EFFECTS, UNKNOWN
from locoder.tools.guard import GuardedToolBox, ToolPolicy, preview

DESCRIBED = {
    # name: (effects, subject)
    "list_files": ({"read"}, "path"), "read_file": ({"read"}, "path"), "grep": ({"read"}, "pattern"),
    "write_file": ({"write"}, "path"), "edit_file": ({"write"}, "path"), "run_command": ({"run"}, "command"),
    "run_tests": ({"read"}, "target"), "search_code": ({"read"}, "query"), "code_outline": ({"read"}, "path"),
    "tree": ({"read"}, "path"), "vretr": ({"read"}, "query"), "index": ({"read"}, ""), "emb_index": ({"read"}, ""),
    "context": ({"read"}, "path"), "plan": ({"read"}, "task"), "remember": ({"read"}, "note"),
    "recall": ({"read"}, "query"), "docs_lookup": ({"read"}, "query"), "call_context7": ({"network"}, "library"),
    "intel": ({"read", "network"}, "question"), "run_python": ({"run"}, "code"),
    "install_package": ({"run", "write", "network"}, "name"), "download_file": ({"write", "network"}, "path"),
    "search_web": ({"network"}, "query"), "final_answer": ({"read"}, "answer"),
}
CHANGING = {"write_file", "edit_file", "run_command", "run_python", "install_package", "download_file"}
"""What the guard asked about before tools described themselves (its old list of names)."""


def test_every_registered_tool_declares_its_effects_and_subject():
    tools = {t.name: t for t in all_tools()}
    assert set(tools) == set(DESCRIBED), "a new tool needs its row here"
    for name, t in tools.items():
        effects, subject = DESCRIBED[name]
        assert t.effects == effects and t.effects != UNKNOWN and t.effects <= EFFECTS, name
        assert t.subject == subject and (not subject or subject in t.parameters["properties"]), name
        assert t.changes == (name in CHANGING), name
    assert {t.name for t in default_tools()} <= set(tools)


def test_a_tool_that_declares_nothing_is_treated_as_changing_everything(repo):
    @tool
    def deploy(ctx: ToolContext, target: str) -> str:
        """Deploy somewhere (an outside tool: it says nothing about itself)."""
        return f"deployed {target}"

    assert deploy.effects == UNKNOWN and deploy.changes and deploy.subject == ""
    box = ToolBox([deploy], ToolContext(workspace=repo))
    call = ToolCall("deploy", {"target": "prod"})
    asked = []
    ask = GuardedToolBox(box, ToolPolicy(approval="ask"), lambda c, shown: asked.append(shown) or "no")
    assert not ask.execute(call).ok and asked == ["deploy(target='prod')"]
    read_only = GuardedToolBox(box, ToolPolicy(mode="read-only")).execute(call)
    assert not read_only.ok and "read-only" in read_only.output
    with pytest.raises(ValueError, match="effects"):
        tool(effects="teleport")(lambda ctx: "")
    with pytest.raises(ValueError, match="subject"):
        @tool(effects="read", subject="path")
        def look(ctx: ToolContext, name: str) -> str:
            """Look."""
            return name


def test_the_preview_is_the_tools_own(repo):
    tools = {t.name: t for t in all_tools()}
    edit = ToolCall("edit_file", {"path": "calc.py", "search": "x * 3", "replace": "x * 5"})
    assert "+    return x * 5" in preview(edit, repo, tools["edit_file"]) and tools["edit_file"].syntax == "diff"
    assert preview(ToolCall("run_command", {"command": "ls -l"}), repo) == "$ ls -l"
    assert preview(ToolCall("run_python", {"code": "print(1)"}), repo) == "print(1)"
    assert tools["run_command"].syntax == "bash" and tools["run_python"].syntax == "python"
    wrong = ToolCall("edit_file", {"path": "calc.py", "search": "not there", "replace": "x"})
    assert preview(wrong, repo).startswith("(the change would fail:")


@pytest.fixture
def box(repo):
    return ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=5))


def test_commands_carry_their_exit_code_and_test_counts(box, repo):
    ran = box.execute(ToolCall("run_command", {"command": "echo hi; exit 3"})).data
    assert ran == CommandRun("echo hi; exit 3", 3, None)
    assert box.execute(ToolCall("run_command", {"command": "kill -9 $$"})).data.exit_code == 137
    assert box.execute(ToolCall("run_command", {"command": "sleep 9", "timeout": 1})).data.exit_code is None
    (repo / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
                                       "def test_wrong():\n    assert add(2, 2) == 5\n")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    tests = box.execute(ToolCall("run_command", {"command": command})).data
    assert tests.exit_code == 1 and tests.tests == TestCounts(1, 1, ("test_calc.py::test_wrong",))
    refused = GuardedToolBox(box, ToolPolicy(approval="never")).execute(ToolCall("run_command", {"command": "ls"}))
    assert not refused.ok and refused.data is None  # nothing ran


def test_file_changes_carry_hashes_and_the_diff(box, repo):
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    before = (repo / "calc.py").read_bytes()
    edited = box.execute(ToolCall("edit_file", {"path": "calc.py", "search": "x * 3", "replace": "x * 5"})).data
    assert isinstance(edited, FileChange) and edited.path == "calc.py" and edited.changed
    assert edited.before_hash == sha(before) and edited.after_hash == sha((repo / "calc.py").read_bytes())
    assert "+    return x * 5" in edited.diff
    created = box.execute(ToolCall("write_file", {"path": "new.py", "content": "X = 1\n"})).data
    assert created.before_hash is None and created.after_hash == sha(b"X = 1\n") and "+X = 1" in created.diff
    same = box.execute(ToolCall("write_file", {"path": "new.py", "content": "X = 1\n"})).data
    assert not same.changed
    assert box.execute(ToolCall("read_file", {"path": "calc.py"})).data is None
