"""The README's example deny rules hold against other spellings of the same command: the guard matches
parsed commands, so a refused command never reaches the sandbox (the folder it would delete survives)."""

import pytest

from locoder.messages import ToolCall
from locoder.tools.guard import GuardedToolBox, Rule, ToolPolicy

README_DENY = ("run_command:git push*", "run_command:re:\\brm\\s+-rf\\b", "write_file:*.lock")

SPELLINGS = [
    "rm -fr keep", "/bin/rm -r -f keep", "rm -r -f keep", "rm --recursive --force keep", "\\rm -rf keep",
    "cd . && rm -fr keep", "true; rm -f -r keep", "echo \"$(rm -fr keep)\"", "bash -c 'rm -fr keep'",
    "find . -maxdepth 1 -name keep -exec rm -rf {} +", "echo keep | xargs rm -fr", "(cd . && rm -fr keep)",
    "env X=1 nice -n 1 /usr/bin/rm -fr keep", "eval rm -fr keep",
    "cd . && git push", "git -C . push origin main", "true || git push --force", "timeout 5 git push",
]


@pytest.mark.parametrize("command", SPELLINGS)
def test_readme_deny_rules_catch_other_spellings(world, command):
    (world["ws"] / "keep").mkdir()
    (world["ws"] / "keep" / "precious.txt").write_text("keep me\n")
    box = GuardedToolBox(world["box"], ToolPolicy(deny=tuple(Rule.parse(r) for r in README_DENY)))
    result = box.execute(ToolCall("run_command", {"command": command}))
    assert not result.ok and "policy denies" in result.output, result.output
    assert (world["ws"] / "keep" / "precious.txt").read_text() == "keep me\n"


def test_other_commands_still_run(world):
    box = GuardedToolBox(world["box"], ToolPolicy(deny=tuple(Rule.parse(r) for r in README_DENY)))
    result = box.execute(ToolCall("run_command", {"command": "mkdir -p x && rm -r x && git status || true"}))
    assert result.ok, result.output
