"""Locoder's commits: one per task, of the task's files alone, marked with a ``Locoder-Task`` trailer; and
undoing the last one, only while it is the last commit and its files have no later edits."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from locoder.changes.errors import ChangeError
from locoder.changes.gitrepo import (
    EMPTY_TREE,
    FALLBACK,
    TRAILER,
    ZERO,
    Repo,
    git,
    names,
    pathspec_file,
    printable,
    status,
)


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    files: list[str]
    """Paths relative to the repository's top."""


def head(repo: Repo) -> str | None:
    """The commit HEAD names, or None in a repository with no commit yet."""
    try:
        return git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip() or None
    except ChangeError:
        return None


def identity(repo: Repo) -> dict[str, str]:
    """Author and committer: the repository's ``user.name``/``user.email``, else the user's git configuration
    file, else ``locoder <locoder@localhost>``."""
    home = Path(os.environ.get("HOME") or "~").expanduser()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "git" / "config"
    found = {}
    for key in ("name", "email"):
        for source in ([], ["--file", str(home / ".gitconfig")], ["--file", str(xdg)]):
            try:
                value = git(repo, "config", *source, "--get", f"user.{key}").decode("utf-8", "replace").strip()
            except ChangeError:
                continue
            if value:
                found[key] = value
                break
    name, email = found.get("name", FALLBACK[0]), found.get("email", FALLBACK[1])
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email}


def message(task: str, status: str, answer: str, stat: str, task_id: str) -> str:
    """The commit message: the task (shortened) as the subject, the status and answer, the diffstat, and
    the trailer that marks the commit as locoder's."""
    lines = [line.strip() for line in task.strip().splitlines() if line.strip()] or ["(no task text)"]
    subject = lines[0] if len(lines[0]) <= 68 else lines[0][:65].rstrip() + "..."
    if status != "submitted":
        subject += f" ({status})"
    body = [f"Asked: {task.strip()[:1500]}", f"Status: {status}"]
    if answer.strip():
        body.append(f"Answer: {answer.strip()[:600]}")
    return "\n".join([subject, "", *body, "", "Changed:", stat.rstrip("\n"), "", f"{TRAILER}: {task_id}", ""])


def commit(repo: Repo, paths: list[str], task: str, status: str, answer: str, task_id: str,
           scratch: Path) -> Commit | None:
    """Commit ``paths`` (relative to the top) as they are in the working tree now, on top of HEAD, and
    nothing else; None when they do not differ from HEAD."""
    scratch.mkdir(parents=True, exist_ok=True)
    parent = head(repo)
    fd, index_name = tempfile.mkstemp(dir=scratch, prefix=".index.", suffix=".tmp")
    os.close(fd)
    index, spec = Path(index_name), pathspec_file(paths, scratch)
    try:
        os.unlink(index)  # git makes it; an empty file is not an index
        git(repo, "read-tree", *(["HEAD"] if parent else ["--empty"]), index=index)
        git(repo, "add", f"--pathspec-from-file={spec}", "--pathspec-file-nul", index=index)
        tree = git(repo, "write-tree", index=index).decode().strip()
        base = git(repo, "rev-parse", f"{parent}^{{tree}}").decode().strip() if parent else EMPTY_TREE
        if tree == base:
            return None
        changed = names(git(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", base, tree))
        stat = git(repo, "diff-tree", "-r", "--stat=100", "--no-renames", base, tree).decode("utf-8", "replace")
        text = message(task, status, answer, stat, task_id)
        msg_file = scratch / f".message.{os.getpid()}.tmp"
        msg_file.write_text(text, encoding="utf-8")
        try:
            sha = git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-F", str(msg_file),
                      env=identity(repo)).decode().strip()
        finally:
            msg_file.unlink(missing_ok=True)
        git(repo, "update-ref", "-m", f"locoder: {text.splitlines()[0]}", "HEAD", sha, parent or ZERO)
        # The user's index now agrees with the commit for these files (and only these).
        git(repo, "reset", "-q", f"--pathspec-from-file={spec}", "--pathspec-file-nul")
        return Commit(sha, text.splitlines()[0], changed)
    finally:
        index.unlink(missing_ok=True)
        spec.unlink(missing_ok=True)


def is_locoder(text: str) -> bool:
    """Whether a commit's message (``git cat-file commit`` text) ends with locoder's trailer."""
    message = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    last = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    return any(line.startswith(f"{TRAILER}: ") for line in last.splitlines())


def undo(repo: Repo, scratch: Path) -> Commit:
    """Revert HEAD when it is locoder's commit and none of its files changed since: the branch goes back to
    its parent and those files with it; the user's other edits stay. Refused (``ChangeError``) otherwise."""
    sha = head(repo)
    if sha is None:
        raise ChangeError("nothing to undo: the repository has no commits")
    text = git(repo, "cat-file", "commit", sha).decode("utf-8", "replace")
    subject = (text.split("\n\n", 1)[1] if "\n\n" in text else "").split("\n", 1)[0]
    if not is_locoder(text):
        raise ChangeError(f"the last commit {sha[:10]} \"{subject}\" is not locoder's; nothing undone (undo "
                          "reverts a commit locoder made only while it is the last one)")
    parents = git(repo, "rev-list", "--parents", "-n", "1", sha).decode().split()[1:]
    if len(parents) > 1:
        raise ChangeError(f"locoder's commit {sha[:10]} is a merge; nothing undone")
    files = names(git(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id", "--root", *parents, sha))
    later = sorted(status(repo, files))
    if later:
        shown = ", ".join(printable(n) for n in later[:5]) + (f" and {len(later) - 5} more" if len(later) > 5 else "")
        raise ChangeError(f"{shown} changed after locoder's commit {sha[:10]}; nothing undone (commit or "
                          "drop those edits first)")
    if parents:
        git(repo, "reset", "-q", "--keep", parents[0])
    else:  # the repository's first commit: the branch goes, and the files the commit made
        git(repo, "update-ref", "-d", "HEAD", sha)
        spec = pathspec_file(files, scratch)
        try:
            git(repo, "rm", "-q", "-f", f"--pathspec-from-file={spec}", "--pathspec-file-nul")
        finally:
            spec.unlink(missing_ok=True)
    return Commit(sha, subject, files)


def show(repo: Repo, sha: str) -> str:
    """A commit as ``git show --stat --patch`` prints it."""
    return git(repo, "show", "--stat", "--patch", "--format=commit %H%nAuthor: %an <%ae>%nDate:   %ad%n%n%B",
               sha).decode("utf-8", "replace")


def working_diff(repo: Repo, files: list[str]) -> str:
    """The uncommitted changes of ``files`` against HEAD (new untracked files named)."""
    diff = git(repo, "diff", "HEAD", "--", *files).decode("utf-8", "replace") if head(repo) and files else ""
    new = [name for name, code in status(repo, files).items() if code == "??"]
    return diff + "".join(f"new file (untracked): {name}\n" for name in new)
