import os
import shutil
from pathlib import Path

import pytest

from locoder.exceptions import Submitted, ToolError
from locoder.messages import ToolCall
from locoder.tools import ToolBox, ToolContext, default_tools, tool
from locoder.tools.paths import resolve_in_workspace


@pytest.fixture
def box(repo: Path) -> ToolBox:
    return ToolBox(default_tools(), ToolContext(workspace=repo, command_timeout=10))


def run(box: ToolBox, name: str, **args):
    return box.execute(ToolCall(name, args))


# --- confinement ---

@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../x", "~/.bashrc"])
def test_paths_outside_the_workspace_are_refused(repo, path):
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_workspace(repo, path)


def test_symlink_pointing_outside_is_refused(repo, tmp_path, box):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, repo / "link.txt")
    os.symlink(tmp_path, repo / "linkdir")
    for name, args in [("read_file", {"path": "link.txt"}), ("write_file", {"path": "linkdir/new.txt", "content": "x"}),
                       ("edit_file", {"path": "link.txt", "search": "top", "replace": "bottom"})]:
        result = run(box, name, **args)
        assert not result.ok and "outside the workspace" in result.output
    assert secret.read_text() == "top secret" and not (tmp_path / "new.txt").exists()


def test_symlink_inside_the_workspace_is_allowed(repo):
    os.symlink(repo / "calc.py", repo / "alias.py")
    assert resolve_in_workspace(repo, "alias.py") == repo / "calc.py"


# --- file tools ---

def test_read_file_with_line_numbers_and_range(box, repo):
    (repo / "long.py").write_text("".join(f"x{i} = {i}\n" for i in range(1, 301)))
    out = run(box, "read_file", path="long.py", start_line=2, end_line=3).output
    assert out.splitlines() == ["long.py (lines 2-3 of 300; not shown: lines 1-1 and lines 4-300):",
                                "    2  x2 = 2", "    3  x3 = 3"]
    tail = run(box, "read_file", path="long.py", start_line=299).output
    assert tail.splitlines()[0] == "long.py (lines 299-300 of 300; not shown: lines 1-298):"


def test_short_files_are_shown_whole_whatever_the_range(box):
    out = run(box, "read_file", path="calc.py", start_line=1, end_line=3).output
    assert out.splitlines()[0] == "calc.py (all 7 lines):"
    assert '    2      """Add two numbers."""' in out and "    7      return x * 3" in out


def test_read_missing_and_binary_files(box, repo):
    assert "does not exist" in run(box, "read_file", path="nope.py").output
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    assert "binary" in run(box, "read_file", path="blob.bin").output


def test_write_creates_folders_and_overwrite_shows_a_diff(box, repo):
    assert run(box, "write_file", path="pkg/new.py", content="x = 1\n").output == "created pkg/new.py (1 lines)"
    out = run(box, "write_file", path="pkg/new.py", content="x = 2\n").output
    assert "-x = 1" in out and "+x = 2" in out
    assert (repo / "pkg/new.py").read_text() == "x = 2\n"


def test_new_files_get_the_usual_mode(box, repo):
    old = os.umask(0o022)
    try:
        run(box, "write_file", path="new.py", content="x\n")
    finally:
        os.umask(old)
    assert (repo / "new.py").stat().st_mode & 0o777 == 0o644


def test_write_keeps_file_mode(box, repo):
    script = repo / "run.sh"
    script.write_text("echo a\n")
    script.chmod(0o755)
    run(box, "write_file", path="run.sh", content="echo b\n")
    assert script.stat().st_mode & 0o777 == 0o755


def test_edit_file_applies_and_reports_failures(box, repo):
    ok = run(box, "edit_file", path="calc.py", search="return x * 3", replace="return x * 4")
    assert ok.ok and "+    return x * 4" in ok.output
    assert "return x * 4" in (repo / "calc.py").read_text()
    missing = run(box, "edit_file", path="calc.py", search="return nothing", replace="")
    assert not missing.ok and "not found" in missing.output


def test_list_files_skips_git_and_state(box, repo):
    (repo / ".locoder").mkdir()
    (repo / "src").mkdir()
    (repo / "src" / "m.py").write_text("")
    out = run(box, "list_files").output.splitlines()
    assert "calc.py" in out and "src/" in out and "src/m.py" in out
    assert not any(line.startswith((".git", ".locoder")) for line in out)


def test_grep_finds_lines_with_file_and_number(box):
    assert run(box, "grep", pattern=r"def \w+\(x\)").output == "calc.py:6:def scale(x):"
    assert "no matches" in run(box, "grep", pattern="zzz_not_there").output
    assert not run(box, "grep", pattern="(unclosed").ok


@pytest.mark.parametrize("ripgrep", [True, False])
def test_grep_in_one_file_names_the_file(box, monkeypatch, ripgrep):
    # ripgrep leaves the file name out when given one file; the model then saw no matches at all.
    if not ripgrep:
        monkeypatch.setattr("locoder.index.search.shutil.which", lambda name: None)
    elif shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed")
    assert run(box, "grep", pattern=r"def scale", path="calc.py").output == "calc.py:6:def scale(x):"


def test_grep_python_fallback_matches_ripgrep_format(box, monkeypatch):
    monkeypatch.setattr("locoder.index.search.shutil.which", lambda name: None)
    assert run(box, "grep", pattern="return a", glob="*.py").output == "calc.py:3:    return a + b"


# --- run_command, final_answer ---

def test_run_command_runs_in_the_workspace(box, repo):
    out = run(box, "run_command", command="pwd && echo err >&2 && exit 3").output
    assert str(repo) in out and "err" in out and "[exit code 3]" in out


def test_run_command_timeout_is_reported(box):
    result = run(box, "run_command", command="sleep 5", timeout=1)
    assert "[timed out]" in result.output


def test_final_answer_submits(box):
    with pytest.raises(Submitted) as done:
        run(box, "final_answer", answer="all done")
    assert done.value.answer == "all done"


# --- the toolbox turns bad calls into observations ---

def test_unknown_tool_and_bad_arguments_are_observations(box):
    unknown = run(box, "delete_everything")
    assert not unknown.ok and "unknown tool" in unknown.output and "read_file" in unknown.output
    extra = run(box, "read_file", path="calc.py", colour="red")
    assert not extra.ok and "takes no argument(s) colour" in extra.output
    missing = run(box, "read_file")
    assert not missing.ok and "needs the argument(s) path" in missing.output
    wrong = run(box, "read_file", path="calc.py", start_line="three")
    assert not wrong.ok and "must be int" in wrong.output


def test_string_numbers_are_converted(box):
    assert run(box, "read_file", path="calc.py", start_line="6", end_line="6").ok


def test_a_crashing_tool_is_an_observation(repo):
    @tool
    def broken(ctx: ToolContext) -> str:
        """Always fails."""
        raise RuntimeError("boom")

    result = ToolBox([broken], ToolContext(workspace=repo)).execute(ToolCall("broken", {}))
    assert not result.ok and "RuntimeError: boom" in result.output


def test_schema_is_derived_from_signature_and_docstring():
    schemas = {t.name: t.parameters for t in default_tools()}
    read = schemas["read_file"]
    assert read["required"] == ["path"]
    assert read["properties"]["start_line"] == {"type": "integer", "description": "First line to show (1-based)."}
    assert read["properties"]["end_line"]["type"] == "integer"
    assert schemas["final_answer"]["required"] == ["answer"]


def test_an_edit_that_breaks_the_syntax_is_refused_and_nothing_is_saved(box, repo):
    before = (repo / "calc.py").read_text()
    result = run(box, "edit_file", path="calc.py", search="    return x * 3", replace="    return (x * 3")
    assert not result.ok and "not saved" in result.output and "line " in result.output
    assert (repo / "calc.py").read_text() == before
    bad = run(box, "write_file", path="calc.py", content="def scale(x:\n    return x\n")
    assert not bad.ok and (repo / "calc.py").read_text() == before
    (repo / "app.js").write_text("function f() { return 1 }\n")
    js = run(box, "edit_file", path="app.js", search="return 1 }", replace="return 1")
    assert not js.ok and "syntax error at line" in js.output
    # A file that was already broken can still be edited (the model may be fixing it).
    (repo / "broken.py").write_text("def f(:\n    pass\n")
    assert run(box, "edit_file", path="broken.py", search="pass", replace="return 1").ok
