"""Git configuration a command plants (fsmonitor, hooks, pager, external diff, textconv, filter drivers) must
not run when locoder itself calls git outside the sandbox: the session summary and the indexer."""

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from escape.world import run
from locoder import gitsafe
from locoder.agent.summary import SessionSummary
from locoder.index.files import workspace_files
from locoder.locations import StatePaths

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ws), *args], env=GIT_ENV, capture_output=True, text=True, timeout=60)


def make_repo(ws: Path) -> None:
    (ws / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / ".gitignore").write_text(".locoder/\n")
    for args in (["init", "-q"], ["add", "calc.py", ".gitignore"], ["commit", "-qm", "start"]):
        assert git(ws, *args).returncode == 0


def plant(ws: Path, markers: Path) -> list[Path]:
    """Every way of making git run a program, each touching its own marker file outside the workspace."""
    marks = {name: markers / name for name in ("fsmonitor", "hook", "pager", "external", "filter", "textconv",
                                               "process", "included")}
    config = {
        "core.fsmonitor": f"touch {marks['fsmonitor']}; false",
        "core.pager": f"touch {marks['pager']}; cat",
        "pager.diff": "true",
        "diff.external": f"sh -c 'touch {marks['external']}'",
        "filter.evil.clean": f"sh -c 'touch {marks['filter']}; cat'",
        "filter.proc.process": f"sh -c 'touch {marks['process']}; exit 1'",
        "diff.evil.textconv": f"sh -c 'touch {marks['textconv']}; cat \"$1\"' -",
        "include.path": str(ws / "inc.cfg"),
    }
    for key, value in config.items():
        assert git(ws, "config", key, value).returncode == 0
    (ws / "inc.cfg").write_text(f"[filter \"other\"]\n\tclean = \"touch {marks['included']}; cat\"\n")
    (ws / ".git" / "info").mkdir(exist_ok=True)
    (ws / ".git" / "info" / "attributes").write_text("*.py filter=evil diff=evil\n*.txt filter=proc\n"
                                                     "*.md filter=other\n")
    hook = ws / ".git" / "hooks" / "post-index-change"
    hook.write_text(f"#!/bin/sh\ntouch {marks['hook']}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return list(marks.values())


def test_planted_git_configuration_runs_nothing_in_locoders_own_git_calls(world, tmp_path):
    ws = world["ws"]
    make_repo(ws)
    summary = SessionSummary(ws, StatePaths.at(tmp_path / "state", ws), "s1")
    markers = tmp_path / "markers"
    markers.mkdir()
    # What a confined command may try; under bubblewrap .git is read-only to it.
    out = run(world, f"git config core.fsmonitor 'touch {markers}/by-command; false' && echo planted")
    if world["runner"] == "bubblewrap":
        assert "planted" not in out and "[exit code 0]" not in out, out
    # Whatever the runner let through (Landlock cannot protect .git), plant everything from outside.
    marks = plant(ws, markers)
    (ws / "calc.py").write_text("def add(a, b):\n    return a - b  # TODO\n")
    (ws / "notes.txt").write_text("new\n")
    (ws / "readme.md").write_text("new\n")
    data = summary.finish()
    listed = set(workspace_files(ws))
    assert sorted(p.name for p in markers.iterdir()) == [], "locoder's git calls ran planted code"
    assert {"path": "calc.py", "added": 1, "removed": 1} in data["files"]
    assert {"notes.txt", "readme.md", "calc.py"} <= listed
    assert data["warnings"] and ".git/config" in data["warnings"][0] and "post-index-change" in data["warnings"][0]
    # The plants are live: plain git runs them (so the test would fail if gitsafe stopped neutralising them).
    git(ws, "diff", "HEAD")
    git(ws, "add", "calc.py", "readme.md")
    git(ws, "add", "notes.txt")
    fired = {p.name for p in markers.iterdir()}
    assert {"fsmonitor", "external", "filter", "hook", "process", "included"} <= fired, fired
    assert all(m.parent == markers for m in marks)


def test_git_init_by_a_command_in_a_plain_folder_plants_nothing_that_runs(world, tmp_path):
    ws = world["ws"]
    (ws / "calc.py").write_text("x = 1\n")
    summary = SessionSummary(ws, StatePaths.at(tmp_path / "state", ws), "s2")
    assert summary.base is None
    marker = tmp_path / "marker"
    out = run(world, f"git init -q . && git config core.fsmonitor 'touch {marker}; false' && "
                     f"printf '#!/bin/sh\\ntouch {marker}\\n' > .git/hooks/post-index-change && "
                     "chmod +x .git/hooks/post-index-change && git add calc.py && echo planted")
    assert "planted" in out, out  # no .git existed, so there was nothing read-only to protect
    marker.unlink(missing_ok=True)  # the command's own git add ran its hook inside the sandbox: allowed
    files = list(workspace_files(ws))
    data = summary.finish()
    assert "calc.py" in files
    assert not marker.exists(), "the indexer's git call ran planted code"
    assert data["warnings"] and "config" in data["warnings"][0]


def test_gitsafe_neutralises_every_driver_named_in_configuration(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    for key in ("filter.A.clean", "filter.A.smudge", "filter.b-c.process", "diff.D.textconv", "diff.D.command",
                "merge.M.driver"):
        assert git(repo, "config", key, "touch /nonexistent/x").returncode == 0
    flags = gitsafe.driver_overrides(repo)
    for key in ("filter.a.clean=", "filter.a.smudge=", "filter.b-c.process=", "diff.d.textconv=",
                "diff.d.command=", "merge.m.driver=", "filter.a.required=false"):
        assert key in [f.lower() for f in flags], (key, flags)
    assert gitsafe.env({"X": "1"}, base={"GIT_DIR": "/elsewhere", "GIT_CONFIG_COUNT": "1", "PATH": "/bin"}) == {
        **{k: v for k, v in gitsafe.env(base={}).items()}, "PATH": "/bin", "X": "1"}


@pytest.mark.parametrize("args", [["diff", "HEAD"], ["log", "-p"], ["show"]])
def test_diffing_commands_get_no_ext_diff(args, tmp_path):
    line = gitsafe.argv(tmp_path, args)
    assert line[line.index(args[0]) + 1:line.index(args[0]) + 3] == ["--no-ext-diff", "--no-textconv"]


GIT_WRITES = [
    "echo '[core]' >> .git/config",
    "git config core.hooksPath /tmp",
    "printf '#!/bin/sh\\n' > .git/hooks/pre-commit",
    "mkdir -p .git/info && echo '* filter=x' > .git/info/attributes",
    "rm -rf .git/hooks",
    "mv .git gone",
    "echo 'mode = \"full-access\"' > .locoder.toml",
    "rm -f .locoder.toml",
]


@pytest.mark.parametrize("command", GIT_WRITES)
def test_commands_cannot_change_git_internals_or_the_project_config(world, command):
    if world["runner"] == "landlock":
        pytest.skip("Landlock cannot make .git or .locoder.toml read-only inside a writable workspace")
    ws = world["ws"]
    make_repo(ws)
    (ws / ".locoder.toml").write_text("max_steps = 5\n")
    before = {p: p.read_bytes() for p in (ws / ".git" / "config", ws / ".locoder.toml")}
    hooks = sorted(os.listdir(ws / ".git" / "hooks"))
    run(world, command)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(os.listdir(ws / ".git" / "hooks")) == hooks
    assert not (ws / ".git" / "info" / "attributes").exists()


def test_git_writable_lets_commands_commit(world, tmp_path):
    from locoder.sandbox import Sandbox, SandboxPolicy

    ws = world["ws"]
    make_repo(ws)
    policy = SandboxPolicy(runner=world["runner"], readonly_in_workspace=(".locoder",))  # git_writable = true
    result = Sandbox(ws, policy, env=GIT_ENV).run("echo more >> calc.py && git commit -qam more && echo done",
                                                  timeout=30, max_output=4000)
    assert "done" in result.output, result.output
    assert git(ws, "log", "--oneline").stdout.count("\n") == 2


def test_the_git_writable_setting_decides_what_commands_see_read_only(tmp_path):
    from locoder.agent.factory import readonly_in_workspace
    from locoder.config import load_settings

    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    default = readonly_in_workspace(load_settings({"workspace": str(tmp_path)}, env=env))
    widened = readonly_in_workspace(load_settings({"workspace": str(tmp_path), "git_writable": True}, env=env))
    moved = readonly_in_workspace(load_settings({"workspace": str(tmp_path), "state_dir": "var/state"}, env=env))
    assert set(default) == {".locoder", ".locoder.toml", ".git"}
    assert set(widened) == {".locoder", ".locoder.toml"}
    assert "var/state" in moved and ".locoder" not in moved


def test_the_summary_names_but_never_reads_links_and_pipes(world, tmp_path):
    ws = world["ws"]
    make_repo(ws)
    summary = SessionSummary(ws, StatePaths.at(tmp_path / "state", ws), "s3")
    outside = tmp_path / "outside"
    os.mkfifo(outside)
    (ws / "pipe-link").symlink_to(outside)
    (ws / "secret-link").symlink_to("/etc/hostname")
    done = []
    worker = threading.Thread(target=lambda: done.append(summary.finish()), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():
        os.close(os.open(outside, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the summary blocked reading a link to a FIFO")
    files = {f["path"]: f for f in done[0]["files"]}
    assert files["pipe-link"]["added"] is None and files["secret-link"]["added"] is None


def test_a_planted_pager_does_not_run_even_on_a_terminal(tmp_path):
    """git starts a pager only when its output is a terminal: run both on a real pseudo-terminal."""
    ws = tmp_path / "ws"
    ws.mkdir()
    make_repo(ws)
    marker = tmp_path / "pager-ran"
    assert git(ws, "config", "core.pager", f"touch {marker}; cat").returncode == 0
    (ws / "calc.py").write_text("changed\n")

    def on_terminal(argv, env):
        leader, follower = os.openpty()
        try:
            subprocess.run(argv, stdin=follower, stdout=follower, stderr=follower, env=env, timeout=30)
        finally:
            os.close(follower)
            os.close(leader)

    on_terminal(gitsafe.argv(ws, ["diff"]), gitsafe.env())
    assert not marker.exists()
    on_terminal(["git", "-C", str(ws), "diff"], GIT_ENV)  # the plant is live for plain git
    assert marker.exists()
