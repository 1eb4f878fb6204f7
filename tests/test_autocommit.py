"""Every task's change can be seen and undone: auto-commit of the task's files alone, ``locoder undo`` and
``locoder diff``, and the checkpoint outside git. Real git repositories in temporary folders, the real CLI in
subprocesses, a scripted model for the loop (the fix workflow's repair too)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import locoder as package
from locoder.agent.session import open_session
from locoder.audit import read_audit_log
from locoder.config import load_settings

SRC = str(Path(package.__file__).resolve().parents[1])


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "notes.txt").write_text("tracked notes\n")
    (root / "other.py").write_text("X = 1\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root


@pytest.fixture
def project(tmp_path):
    return make_repo(tmp_path / "project")


def locoder(tmp_path: Path, workspace: Path, *args: str, replies=None) -> subprocess.CompletedProcess:
    extra: list[str] = []
    if replies is not None:
        path = tmp_path / "replies.json"
        path.write_text(json.dumps(replies))
        extra = ["-m", f"scripted:{path}", "--no-memory", "--no-rl"]
    # This checkout's locoder, whichever one is installed.
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "COLUMNS": "250", "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "locoder", *args, "-w", str(workspace), *extra],
                          capture_output=True, text=True, errors="replace", timeout=120, env=env)


def call(tool: str, **arguments) -> dict:
    return {"tool": tool, "arguments": arguments}


FIX = call("edit_file", path="calc.py", search="return a - b", replace="return a + b")
DONE = call("final_answer", answer="add adds now")


def test_the_tasks_files_are_committed_with_a_message_saying_what_was_asked_and_changed(project, tmp_path):
    out = locoder(tmp_path, project, "run", "make add add\nand more words on a second line", replies=[
        FIX, call("run_command", command="echo made > made.txt; mkdir -p __pycache__; echo x > __pycache__/c.pyc"),
        DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "2"
    files = git(project, "show", "--name-only", "--format=", "HEAD").split()
    assert files == ["calc.py", "made.txt"]  # a command's file counts; the cache it left does not
    message = git(project, "log", "-1", "--format=%B")
    assert message.startswith("make add add\n\nAsked: make add add\nand more words")
    assert "Status: submitted" in message and "Answer: add adds now" in message
    assert "calc.py  | 2 +-" in message and "made.txt | 1 +" in message
    assert message.rstrip().splitlines()[-1].startswith("Locoder-Task: ")
    assert git(project, "log", "-1", "--format=%an <%ae>").strip() == "locoder <locoder@localhost>"
    assert git(project, "status", "--porcelain").splitlines() == ["?? __pycache__/"]  # the index agrees
    assert "committed " in out.stdout and "locoder undo reverts it" in out.stdout
    kinds = [r["type"] for r in read_audit_log(project / ".locoder" / "logs" / "agent_audit.jsonl")]
    assert kinds[-3:] == ["result", "changes", "summary"]


def test_the_users_uncommitted_edits_are_never_swept_into_the_commit(project, tmp_path):
    (project / "notes.txt").write_text("my own edit\n")
    (project / "other.py").write_text("X = 2  # staged by me\n")
    git(project, "add", "other.py")
    (project / "mine.txt").write_text("untracked, mine\n")
    out = locoder(tmp_path, project, "run", "fix add", replies=[
        FIX, call("run_command", command="echo agent >> notes.txt"), DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(project, "show", "--name-only", "--format=", "HEAD").split() == ["calc.py"]
    assert "notes.txt had uncommitted edits of yours before the task" in " ".join(out.stdout.split())
    assert (project / "notes.txt").read_text() == "my own edit\nagent\n"
    status = set(git(project, "status", "--porcelain").splitlines())
    assert status == {" M notes.txt", "M  other.py", "?? mine.txt"}  # the staged edit is still staged
    assert git(project, "show", "HEAD:other.py") == "X = 1\n"


def test_no_auto_commit_leaves_the_change_uncommitted_and_diff_still_shows_it(project, tmp_path):
    out = locoder(tmp_path, project, "run", "fix add", "--no-auto-commit", replies=[FIX, DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(project, "status", "--porcelain").splitlines() == [" M calc.py"]
    assert "not committed: calc.py" in out.stdout
    diff = locoder(tmp_path, project, "diff")
    assert diff.returncode == 0 and "not committed" in diff.stdout and "+    return a + b" in diff.stdout
    undo = locoder(tmp_path, project, "undo")
    assert undo.returncode == 1 and "the last task's changes were not committed (calc.py)" in undo.stderr
    assert "return a + b" in (project / "calc.py").read_text()


def test_the_setting_is_checked_and_read_from_the_config_file(project, tmp_path):
    (project / ".locoder.toml").write_text('auto_commit = "off"\n')
    assert load_settings({"workspace": str(project)}, env={}).auto_commit == "off"
    assert load_settings({"workspace": str(project), "auto_commit": "true"}, env={}).auto_commit == "on"
    out = locoder(tmp_path, project, "run", "x", "--auto-commit", "sometimes", replies=[DONE])
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_undo_reverts_locoders_last_commit_and_keeps_the_users_other_edits(project, tmp_path):
    out = locoder(tmp_path, project, "run", "fix add", replies=[
        FIX, call("write_file", path="pkg/new.py", content="NEW = 1\n"),
        call("run_command", command="rm other.py"), DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    locoders = git(project, "rev-parse", "HEAD").strip()
    (project / "notes.txt").write_text("edited after the task, elsewhere\n")
    diff = locoder(tmp_path, project, "diff")
    assert diff.returncode == 0 and locoders in diff.stdout and "+    return a + b" in diff.stdout
    undo = locoder(tmp_path, project, "undo")
    assert undo.returncode == 0, undo.stderr
    assert f"undid locoder's commit {locoders[:10]}" in undo.stdout
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert (project / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert (project / "other.py").read_text() == "X = 1\n" and not (project / "pkg").exists()
    assert git(project, "status", "--porcelain").splitlines() == [" M notes.txt"]
    again = locoder(tmp_path, project, "undo")
    assert again.returncode == 1 and "\"init\" is not locoder's; nothing undone" in again.stderr
    assert "(undone since)" in locoder(tmp_path, project, "diff").stdout


def test_undo_refuses_when_the_commit_is_not_the_last_or_its_files_changed_since(project, tmp_path):
    assert locoder(tmp_path, project, "run", "fix add", replies=[FIX, DONE]).returncode == 0
    (project / "calc.py").write_text("def add(a, b):\n    return a + b  # mine\n")
    out = locoder(tmp_path, project, "undo")
    assert out.returncode == 1 and "calc.py changed after locoder's commit" in out.stderr
    assert "# mine" in (project / "calc.py").read_text()
    git(project, "-c", "user.name=u", "-c", "user.email=u@u", "commit", "-qam", "my commit")
    out = locoder(tmp_path, project, "undo")
    assert out.returncode == 1 and "\"my commit\" is not locoder's" in out.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "3"


def test_only_the_workspace_is_committed_when_it_is_a_folder_of_the_repository(tmp_path):
    repo = make_repo(tmp_path / "mono")
    (repo / "app").mkdir()
    (repo / "app" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "app")
    (repo / "notes.txt").write_text("dirty outside the workspace\n")
    out = locoder(tmp_path, repo / "app", "run", "fix add", replies=[FIX, DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["app/calc.py"]
    assert "warning" not in out.stdout
    assert locoder(tmp_path, repo / "app", "undo").returncode == 0
    assert (repo / "app" / "calc.py").read_text().endswith("a - b\n")
    assert (repo / "notes.txt").read_text() == "dirty outside the workspace\n"


ODD = b"odd \xe9 name\nwith \"quotes\" *.txt"


def test_odd_bytes_in_file_names_are_committed_and_undone(project, tmp_path):
    command = "printf 'x\\n' > \"$(printf 'odd \\351 name\\nwith \\042quotes\\042 *.txt')\""
    out = locoder(tmp_path, project, "run", "odd names", replies=[call("run_command", command=command), DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert os.path.exists(os.fsencode(project) + b"/" + ODD)
    listed = subprocess.run(["git", "-C", str(project), "show", "-z", "--name-only", "--format=", "HEAD"],
                            capture_output=True, check=True).stdout
    assert listed.strip(b"\0\n").split(b"\0") == [ODD]
    assert 'odd \\xe9 name\\nwith "quotes" *.txt' in out.stdout  # shown on one line, readable
    assert locoder(tmp_path, project, "undo").returncode == 0
    assert not os.path.exists(os.fsencode(project) + b"/" + ODD)


def test_outside_git_a_checkpoint_makes_undo_work(tmp_path):
    work = tmp_path / "plain"
    (work / "lib").mkdir(parents=True)
    (work / "keep.txt").write_text("before\n")
    (work / "gone.txt").write_text("deleted by the task\n")
    (work / "lib" / "a.py").write_text("A = 1\n")
    (work / "tool.sh").write_text("#!/bin/sh\n")
    (work / "tool.sh").chmod(0o755)
    os.symlink("keep.txt", work / "link")
    out = locoder(tmp_path, work, "run", "change things", replies=[
        call("write_file", path="keep.txt", content="after\n"), call("write_file", path="new/deep/n.txt", content="n\n"),
        call("run_command", command="rm gone.txt link; ln -s lib link; echo '#!/bin/bash' > tool.sh; chmod 600 tool.sh"),
        DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "checkpoint kept of gone.txt, keep.txt, link, new/deep/n.txt, tool.sh" in out.stdout
    diff = locoder(tmp_path, work, "diff")
    assert "kept in a checkpoint" in diff.stdout and "-before\n+after" in diff.stdout
    assert "+++ /dev/null" in diff.stdout and "--- /dev/null\n+++ b/new/deep/n.txt" in diff.stdout
    undo = locoder(tmp_path, work, "undo")
    assert undo.returncode == 0, undo.stderr
    assert (work / "keep.txt").read_text() == "before\n" and (work / "gone.txt").read_text() == "deleted by the task\n"
    assert not (work / "new").exists() and os.readlink(work / "link") == "keep.txt"
    assert (work / "tool.sh").read_text() == "#!/bin/sh\n" and (work / "tool.sh").stat().st_mode & 0o777 == 0o755
    again = locoder(tmp_path, work, "undo")
    assert again.returncode == 1 and "nothing left to undo" in again.stderr


def test_outside_git_undo_refuses_after_later_edits_and_restores_odd_names(tmp_path):
    work = tmp_path / "plain"
    work.mkdir()
    command = "printf 'x\\n' > \"$(printf 'odd \\351 name\\nwith \\042quotes\\042 *.txt')\"; echo t > t.txt"
    assert locoder(tmp_path, work, "run", "odd", replies=[call("run_command", command=command), DONE]).returncode == 0
    assert os.path.exists(os.fsencode(work) + b"/" + ODD)
    (work / "t.txt").write_text("mine now\n")
    out = locoder(tmp_path, work, "undo")
    assert out.returncode == 1 and "t.txt changed after the task; nothing undone" in out.stderr
    assert os.path.exists(os.fsencode(work) + b"/" + ODD)
    (work / "t.txt").write_text("t\n")
    assert locoder(tmp_path, work, "undo").returncode == 0
    assert not os.path.exists(os.fsencode(work) + b"/" + ODD) and not (work / "t.txt").exists()


def _session(tmp_path, workspace, replies, approver):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    settings = load_settings({"workspace": str(workspace), "model": f"scripted:{path}", "memory": False,
                              "rl": False}, env={})
    return open_session(settings, approver=approver)


def test_the_interactive_session_asks_before_committing(project, tmp_path, isolated_env):
    asked = []

    def approver(call, preview):
        if call.name != "commit":
            return "yes"  # the edits themselves
        asked.append((call.name, preview))
        return "no" if len(asked) == 1 else "always"

    session = _session(tmp_path, project, [FIX, DONE, call("write_file", path="b.txt", content="b\n"), DONE,
                                           call("write_file", path="c.txt", content="c\n"), DONE], approver)
    try:
        session.router.run("fix add")
        assert git(project, "rev-list", "--count", "HEAD").strip() == "1"  # declined
        assert asked[0][0] == "commit" and "fix add" in asked[0][1] and "calc.py" in asked[0][1]
        session.router.run("write b")
        assert git(project, "show", "--name-only", "--format=", "HEAD").split() == ["b.txt"]
        session.router.run("write c")  # "always": no more questions
        assert len(asked) == 2 and git(project, "show", "--name-only", "--format=", "HEAD").split() == ["c.txt"]
    finally:
        session.model.close()


def test_the_fix_workflows_repair_is_committed(tmp_path):
    from test_workflows import CALC, FIXED_ADD, TESTS, fenced, project_venv

    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TESTS)
    project_venv(repo)  # untracked, and never committed: .venv is a tool's folder
    git(repo, "init", "-q")
    git(repo, "add", "calc.py", "test_calc.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    out = locoder(tmp_path, repo, "run", "add(2, 3) returns -1 instead of 5", "--workflow", "fix",
                  replies=[fenced(FIXED_ADD)])
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["calc.py"]
    assert "return a + b" in git(repo, "show", "HEAD:calc.py")
    assert "Locoder-Task: " in git(repo, "log", "-1", "--format=%B")


def test_undo_and_diff_are_slash_commands_of_the_session(project, tmp_path, isolated_env):
    import io

    from rich.console import Console

    from locoder.cli.registry import Invocation
    from locoder.cli.slash import slash_commands

    session = _session(tmp_path, project, [FIX, DONE], lambda call, preview: "yes")
    try:
        session.router.run("fix add")
        made = git(project, "rev-parse", "HEAD").strip()
        printed = io.StringIO()
        commands = slash_commands(Invocation(Console(file=printed, width=200), session=session.settings,
                                             model=session.model))
        assert commands["diff"].run("") == 0 and made in printed.getvalue() and "+    return a + b" in printed.getvalue()
        assert commands["undo"].run("") == 0 and f"undid locoder's commit {made[:10]}" in printed.getvalue()
        assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
        assert commands["undo"].run("") == 1  # refused: "init" is not locoder's; the session goes on
    finally:
        session.model.close()


def test_a_repository_without_commits_gets_locoders_first_commit_and_undo_removes_it(tmp_path):
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "mine.txt").write_text("not committed, mine\n")
    out = locoder(tmp_path, repo, "run", "start it", replies=[call("write_file", path="a.py", content="A = 1\n"), DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.py"]
    undo = locoder(tmp_path, repo, "undo")
    assert undo.returncode == 0, undo.stderr
    assert not (repo / "a.py").exists() and (repo / "mine.txt").exists()
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", "HEAD"]).returncode != 0


def test_ask_where_nobody_can_answer_leaves_the_change_uncommitted(project, tmp_path):
    out = locoder(tmp_path, project, "run", "fix add", "--auto-commit", "ask", replies=[FIX, DONE])
    assert out.returncode == 0, out.stdout + out.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1" and "not committed: calc.py" in out.stdout
