"""The file tools run in-process, outside any sandbox: they must refuse locoder's state folder, the project
configuration and git internals themselves, under every runner, and folder-like paths."""

import os

import pytest

from locoder.messages import ToolCall
from locoder.tools import ToolBox, ToolContext, all_tools

PROTECTED = [
    ".locoder/audit.jsonl",
    ".locoder/logs/agent_audit.jsonl",
    ".locoder/memory_bank/global.md",
    "./.locoder/new.txt",
    "sub/../.locoder/x",
    ".locoder.toml",
    ".git/config",
    ".git/hooks/pre-commit",
    ".git/info/attributes",
    "vendor/lib/.git/config",
    "state-link/audit.jsonl",
    "toml-link",
]


def _plant(ws):
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    (ws / ".locoder.toml").write_text('mode = "workspace-write"\n')
    (ws / "sub").mkdir()
    (ws / "state-link").symlink_to(".locoder")
    (ws / "toml-link").symlink_to(".locoder.toml")
    return {p: p.read_bytes() for p in [ws / ".git" / "config", ws / ".locoder.toml"]}


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("tool", ["write_file", "edit_file"])
def test_file_tools_refuse_state_config_and_git(world, tool, path):
    ws = world["ws"]
    before = _plant(ws)
    args = {"path": path, "content": "mode = \"full-access\"\n"} if tool == "write_file" else \
        {"path": path, "search": "{}", "replace": "[]"}
    result = world["box"].execute(ToolCall(tool, args))
    assert not result.ok and "may not change" in result.output, result.output
    assert {p: p.read_bytes() for p in before} == before
    assert not (ws / ".locoder" / "new.txt").exists() and not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert not (ws / "vendor").exists()


def test_download_file_refuses_the_state_folder(world):
    # Network on (no sandbox) so that the path, not the network switch, is what refuses.
    box = ToolBox(all_tools(), ToolContext(workspace=world["ws"]))
    result = box.execute(ToolCall("download_file", {"url": "http://127.0.0.1:9/x",
                                                    "path": ".locoder/memory_bank/global.md"}))
    assert not result.ok and "may not change" in result.output, result.output
    assert not (world["ws"] / ".locoder" / "memory_bank").exists()


@pytest.mark.parametrize("path", ["newdir/", "a/b/", "./", ".", "newdir//"])
def test_write_file_of_a_folder_path_is_refused(world, path):
    result = world["box"].execute(ToolCall("write_file", {"path": path, "content": "x"}))
    assert not result.ok and "folder" in result.output, result.output
    assert sorted(os.listdir(world["ws"])) == [".locoder"]


def test_ordinary_writes_still_work_and_keep_the_mode(world):
    ws = world["ws"]
    box = world["box"]
    assert box.execute(ToolCall("write_file", {"path": "a/b/c.txt", "content": "one\n"})).ok
    (ws / "a" / "b" / "c.txt").chmod(0o640)
    assert box.execute(ToolCall("edit_file", {"path": "a/b/c.txt", "search": "one", "replace": "two"})).ok
    assert (ws / "a" / "b" / "c.txt").read_text() == "two\n"
    assert (ws / "a" / "b" / "c.txt").stat().st_mode & 0o777 == 0o640
    (ws / "inner").symlink_to("a/b")
    assert box.execute(ToolCall("write_file", {"path": "inner/d.txt", "content": "x\n"})).ok
    assert (ws / "a" / "b" / "d.txt").read_text() == "x\n"
    assert sorted(os.listdir(ws / "a" / "b")) == ["c.txt", "d.txt"]  # no temporary file left


def test_content_with_a_lone_surrogate_is_refused_and_loses_nothing(world):
    ws = world["ws"]
    (ws / "keep.txt").write_text("old\n")
    for args in ({"path": "keep.txt", "content": "x\ud800y"}, {"path": "new.txt", "content": "\udfff"}):
        result = world["box"].execute(ToolCall("write_file", args))
        assert not result.ok and "lone surrogate" in result.output, result.output
    result = world["box"].execute(ToolCall("edit_file", {"path": "keep.txt", "search": "old", "replace": "\ud800"}))
    assert not result.ok and "lone surrogate" in result.output, result.output
    assert (ws / "keep.txt").read_text() == "old\n" and not (ws / "new.txt").exists()
