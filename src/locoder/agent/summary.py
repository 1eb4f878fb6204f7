"""The summary at the end of every session: what was asked, what was done (files changed with +/- lines,
commands and their exit codes, tests passed and failed), tokens and time, and a few next steps.

``SessionSummary`` is an event sink: it watches tasks, tool calls and results as they happen, reading the typed
data of each result (``CommandRun``, ``FileChange``), never its text. In a git
repository, file changes are measured against a snapshot of the working tree taken when the session began
(``git stash create``: no ref, stash entry or file changes; the snapshot is an unreferenced commit), so edits made by commands count as well as the agent's own.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from locoder import gitsafe
from locoder.events import Checked, Event, Step, TaskFinished, TaskStarted
from locoder.index.files import NOISE_DIRS, under
from locoder.locations import StatePaths
from locoder.messages import CommandRun, FileChange, ToolResult

TODO = re.compile(r"\b(TODO|FIXME|XXX)\b")


@dataclass
class Command:
    command: str
    exit_code: int | None
    """None: it timed out."""


@dataclass
class TestRun:
    __test__ = False  # not a pytest test class

    command: str
    passed: int | None
    """None (with ``failed``): the run printed no counts (it did not collect, or it crashed)."""
    failed: int | None
    failures: list[str] = field(default_factory=list)
    exit_code: int | None = None


ADVICE = {
    "max_steps": "Retry with a higher --max-steps, or split the task into smaller ones.",
    "repeated": "The model repeated itself: name the file or function to change, or try --workflow fix or ask.",
    "doom_loop": "The model kept failing the same way (a command failing again and again, or an edit undone and "
                 "redone): say what causes the failure or which function to change, or try --workflow fix.",
    "context": "The task and instructions do not fit the context window: raise --context-window, or shorten them.",
    "unparseable": "The model's replies could not be used: try --tool-mode constrained, or a larger model.",
    "no_repair": "No repair passed the tests: retry with --attempts 3 (other functions, more samples), or "
                 "point to the function in the task.",
    "error": "Check the model backend (locoder doctor), then run the task again.",
}
"""What to do next after a task that stopped, by why it stopped (``RunResult.stop``); cancelled: nothing."""


def _git(workspace: Path, *args: str) -> str | None:
    # Outside the sandbox: through gitsafe, so configuration a command planted in .git runs nothing.
    return gitsafe.output(workspace, *args)


def _regular(path: Path) -> bool:
    """A regular file, not a link: the summary reads only those (it runs outside the sandbox)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class SessionSummary:
    def __init__(self, workspace: Path, state: StatePaths, session: str) -> None:
        self.workspace, self.session = workspace, session
        self.state = state
        self.state_dir = self.state.root
        self.started = time.time()
        self.tasks: list[dict] = []
        self.commands: list[Command] = []
        self.tests: list[TestRun] = []
        self.touched: list[str] = []
        self.prompt_tokens = self.completion_tokens = 0
        self.base: str | None = None
        self.untracked: set[str] = set()
        self.git_files = gitsafe.fingerprint(workspace)
        """config, info/attributes and hooks of the repository as the session began (warned of when changed)."""
        if _git(workspace, "rev-parse", "--is-inside-work-tree") is not None:
            head = (_git(workspace, "rev-parse", "--verify", "-q", "HEAD") or "").strip()
            snapshot = (_git(workspace, "stash", "create") or "").strip()
            self.base = snapshot or head or "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
            self.untracked = set((_git(workspace, "ls-files", "--others", "--exclude-standard") or "").split("\n")) - {""}

    # -- watching --------------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if isinstance(event, TaskStarted):
            self.tasks.append({"task": event.task, "status": "running", "answer": "", "stop": ""})
        elif isinstance(event, Step):
            for result in event.results:
                self._tool(result)
        elif isinstance(event, Checked) and event.phase == "start" and self.tasks:
            self.tasks[-1]["checks_at_start"] = {"passed": event.passed, "failed": event.failed,
                                                 "failing": event.failing[:10]}
        elif isinstance(event, TaskFinished):
            result = event.result
            if self.tasks:
                self.tasks[-1].update(status=result.status, answer=str(result.answer)[:300], stop=result.stop)
            self.prompt_tokens += result.usage.prompt_tokens
            self.completion_tokens += result.usage.completion_tokens

    def _tool(self, result: ToolResult) -> None:
        data = result.data
        if isinstance(data, FileChange) and result.ok and data.path not in self.touched:
            self.touched.append(data.path)
        if not isinstance(data, CommandRun):
            return
        self.commands.append(Command(data.command, data.exit_code))
        if data.tests is not None:
            tests = data.tests
            self.tests.append(TestRun(data.command, tests.passed, tests.failed, list(tests.failures[:10]), data.exit_code))

    # -- summing up ------------------------------------------------------------------------------------------
    def changed_files(self) -> list[dict]:
        """Files changed since the session began, with lines added and removed (git), or the files the
        agent wrote (without git, no line counts)."""
        if self.base is None:
            return [{"path": p, "added": None, "removed": None} for p in self.touched]
        out = []
        for line in (_git(self.workspace, "diff", "--numstat", self.base) or "").splitlines():
            added, removed, path = line.split("\t", 2)
            out.append({"path": path, "added": int(added) if added.isdigit() else None,
                        "removed": int(removed) if removed.isdigit() else None})
        now = set((_git(self.workspace, "ls-files", "--others", "--exclude-standard") or "").split("\n")) - {""}
        for path in sorted(now - self.untracked):
            if any(part in NOISE_DIRS for part in path.split("/")[:-1]) or under(path, self.state.skipped()):
                continue  # caches and state, not work (a repository without a .gitignore shows them)
            if not _regular(self.workspace / path):
                out.append({"path": path, "added": None, "removed": None, "new": True})
                continue  # a link (maybe out of the workspace) or a pipe: named, never read
            try:
                data = (self.workspace / path).read_bytes()
                if b"\0" in data[:8192]:
                    out.append({"path": path, "added": None, "removed": None, "new": True})
                    continue
                text = data.decode("utf-8", "replace")
                out.append({"path": path, "added": text.count("\n") + (0 if text.endswith("\n") or not text else 1),
                            "removed": 0, "new": True})
            except OSError:
                out.append({"path": path, "added": None, "removed": None, "new": True})
        return out

    def _todos(self, files: list[dict]) -> list[str]:
        if self.base is None or not files:
            return []
        diff = _git(self.workspace, "diff", "-U0", self.base, "--", *[f["path"] for f in files]) or ""
        found, path, line_no = [], "", 0
        for line in diff.splitlines():
            if line.startswith("+++ b/"):
                path = line[6:]
            elif m := re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)", line):
                line_no = int(m.group(1)) - 1
            elif line.startswith("+") and not line.startswith("+++"):
                line_no += 1
                if TODO.search(line):
                    found.append(f"{path}:{line_no}")
        # New files are untracked: git diff does not show them, so they are read whole.
        for rel in sorted(f["path"] for f in files if f.get("new") and f["added"] is not None):
            try:
                for n, text in enumerate((self.workspace / rel).read_text(errors="replace").splitlines(), 1):
                    if TODO.search(text):
                        found.append(f"{rel}:{n}")
            except OSError:
                pass
        return found

    def next_steps(self, files: list[dict]) -> list[str]:
        steps = []
        last_test = self.tests[-1] if self.tests else None
        if last_test and last_test.failed:
            names = f": {', '.join(last_test.failures[:3])}" if last_test.failures else ""
            steps.append(f"Fix the {last_test.failed} failing test(s){names} (last run: `{last_test.command}`).")
        elif last_test and last_test.passed is None and last_test.exit_code != 0:
            steps.append(f"The last test run (`{last_test.command[:80]}`) reported no results "
                         f"(exit {last_test.exit_code}): the tests may not collect; run it and read its output.")
        for task in self.tasks:
            if task["status"] == "unverified":
                steps.append(f"The task \"{task['task'][:80]}\" ended with tests failing; the model said: "
                             f"{task['answer'][:160]}")
                break
            if task["status"] not in ("submitted", "running", "cancelled"):
                advice = ADVICE.get(task.get("stop", ""), "Retry it narrower, or give more detail.")
                steps.append(f"The task \"{task['task'][:80]}\" ended {task['status']}: {task['answer'][:120]}. {advice}")
                break
        todos = self._todos(files)
        if todos:
            steps.append(f"Resolve the TODO/FIXME added at {', '.join(todos[:3])}.")
        if files and not self.tests:
            steps.append("Run the tests: files changed and no test command ran this session.")
        if (self.workspace / "logs").is_dir() and len(steps) < 3:
            try:
                from locoder.logs.digest import build_digest

                events = [e for e in build_digest(["logs"], self.workspace).as_dict()["events"] if e["kind"] in ("exception", "error")]
                if events:
                    steps.append(f"Look into the log error \"{events[0]['text'][:100]}\" (first at {events[0]['first']}; "
                                 "locoder ctx shows the rest).")
            except (OSError, ValueError):
                pass
        if files and self.base is not None and self._uncommitted(files):
            steps.append("Review the changes (git diff) and commit them.")
        return steps[:3]

    def _uncommitted(self, files: list[dict]) -> bool:
        """Whether any of the changed files is still uncommitted (tasks' changes may have been committed)."""
        listed = _git(self.workspace, "status", "--porcelain", "--", *[f":(top,literal){f['path']}" for f in files])
        return listed is None or bool(listed.strip())

    def warnings(self) -> list[str]:
        """What the user should look at before running git again: repository configuration, attributes or
        hooks that changed during the session (git runs what they name on the next commit or diff)."""
        changed = gitsafe.changed(self.git_files, gitsafe.fingerprint(self.workspace))
        if not changed:
            return []
        return [f".git/{', .git/'.join(changed[:6])}" + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
                + " changed during this session: git runs the programs these name (hooks, filters, fsmonitor, "
                "pager) on your next git command; read them (git config --local --list, ls .git/hooks) first"]

    def finish(self) -> dict:
        """The summary as a dict; also written to ``<state>/sessions/`` (atomically)."""
        from locoder.atomic import write_atomic

        files = self.changed_files()
        data = {
            "session": self.session, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1), "tasks": self.tasks, "files": files,
            "commands": [asdict(c) for c in self.commands], "tests": [asdict(t) for t in self.tests],
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "next_steps": self.next_steps(files),
            "warnings": self.warnings(),
        }
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.started))
        try:
            write_atomic(self.state.sessions / f"{stamp}-{self.session}.json", json.dumps(data, indent=1) + "\n")
        except OSError:
            pass
        return data


def render(data: dict) -> str:
    lines = ["session summary"]
    for i, t in enumerate(data["tasks"], 1):
        lines.append(f"  asked    {i}. {' '.join(t['task'].split())[:100]}  ({t['status']})")
        start = t.get("checks_at_start")
        if start and start["failed"]:
            lines.append(f"           before any change {start['failed']} test(s) failed: {', '.join(start['failing'][:3])}")
    if not data["tasks"]:
        lines.append("  asked    nothing")
    files = data["files"]
    if files:
        shown = [f"{f['path']} " + (f"+{f['added']} -{f['removed']}" if f["added"] is not None else "(changed)")
                 for f in files[:8]]
        lines.append(f"  changed  {'; '.join(shown)}" + (f"; and {len(files) - 8} more" if len(files) > 8 else ""))
    else:
        lines.append("  changed  no files")
    commands = data["commands"]
    if commands:
        bad = [c for c in commands if c["exit_code"] != 0]
        lines.append(f"  commands {len(commands)} run, {len(commands) - len(bad)} ok" +
                     "".join(f"; `{c['command'][:60]}` " + ("timed out" if c["exit_code"] is None else f"exit {c['exit_code']}")
                             for c in bad[:3]))
    if data["tests"]:
        last = data["tests"][-1]
        if last["passed"] is None:
            code = "timed out" if last.get("exit_code") is None else f"exit {last['exit_code']}"
            lines.append(f"  tests    no results from the last run (`{last['command'][:60]}`, {code})")
        else:
            lines.append(f"  tests    {last['passed']} passed, {last['failed']} failed (last run: `{last['command'][:60]}`)")
    tokens = data["tokens"]
    lines.append(f"  spent    {tokens['prompt']:,} prompt + {tokens['completion']:,} generated tokens, {data['seconds']:.1f} s")
    for warning in data.get("warnings", []):
        lines.append(f"  WARNING  {warning}")
    for i, step in enumerate(data["next_steps"], 1):
        lines.append(f"  {'next' if i == 1 else '':<8} {i}. {step}")
    return "\n".join(lines)
