"""The project's checks, found and run: its tests (as ``run_tests`` finds them, or ``--test-cmd``) and its
linter (``--lint-cmd``, or found: ruff, flake8, eslint, cargo clippy, go vet), limited to the files given
where the linter takes paths. Commands run in the session's sandbox (``ToolContext.run``), like run_tests.

The one reader of linters' output: ``parse_lint`` turns it into ``LintFinding``s; ``run_checks`` returns a
typed ``CheckRun`` that the agent's check loop and the finish gate read (``agent/finish.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from locoder.messages import CheckRun, CommandRun, LintFinding, LintRun
from locoder.regular_files import read_text
from locoder.tools.base import ToolContext
from locoder.tools.tests import command_run, detect_test_command

PY = (".py", ".pyi")
JS = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".vue")
FILES = "{files}"
"""In a ``--lint-cmd``: where the changed files go (shell-quoted); without it the command runs as given."""
LOCATED = re.compile(r"^(?P<path>[^\s:][^:\n]*\.\w+):(?P<line>\d+):(?:\d+:)?\s*(?P<rest>.+)$", re.M)
"""``path:line[:col]: message``: flake8, clippy's short format, go vet, most linters' plain output."""
COUNTS_LINE = re.compile(r"^[=\s]*\d+ (failed|passed|errors?)\b")
RULE = re.compile(r"^(?:(?:warning|error)(?:\[(?P<bracket>[\w:-]+)\])?:\s*|(?P<code>[A-Z]+\d+)\s+(?:\[\*\]\s+)?)")


@dataclass(frozen=True)
class Linter:
    """How to lint this project."""

    name: str
    command: str
    """The command line, with ``{files}`` where paths go (``takes_paths``)."""
    suffixes: tuple[str, ...] = ()
    """The files it lints when given paths; empty: any."""

    @property
    def takes_paths(self) -> bool:
        return FILES in self.command

    def lints(self, path: str) -> bool:
        return not self.suffixes or path.endswith(self.suffixes)

    def line(self, paths: list[str]) -> str:
        """The command for ``paths`` (the whole project when it takes none, or none are given)."""
        if not self.takes_paths:
            return self.command
        return self.command.replace(FILES, " ".join(shlex.quote(p) for p in paths) or ".")


def _text(path: Path) -> str:
    try:
        return read_text(path, max_bytes=1_000_000) if path.is_file() else ""
    except (OSError, ValueError):
        return ""


def _project_bin(workspace: Path, name: str) -> str | None:
    for folder in (".venv/bin", "venv/bin"):
        if (workspace / folder / name).is_file():
            return f"{folder}/{name}"
    return None


def detect_linter(workspace: Path) -> Linter | None:
    """The project's linter: ruff (its configuration, or ruff in the project's virtualenv), flake8 (its
    configuration), eslint (in package.json, or its configuration), cargo clippy (Cargo.toml), go vet
    (go.mod); None when the project shows none."""
    ruff = _project_bin(workspace, "ruff")
    if ruff or "[tool.ruff" in _text(workspace / "pyproject.toml") or \
            any((workspace / f).is_file() for f in ("ruff.toml", ".ruff.toml")):
        return Linter("ruff", f"{ruff or 'ruff'} check --no-fix --output-format json --force-exclude {FILES}", PY)
    if (workspace / ".flake8").is_file() or any("[flake8]" in _text(workspace / f) for f in ("setup.cfg", "tox.ini")):
        return Linter("flake8", f"{_project_bin(workspace, 'flake8') or 'flake8'} {FILES}", PY)
    package = _text(workspace / "package.json")
    if '"eslint"' in package or any(workspace.glob(".eslintrc*")) or any(workspace.glob("eslint.config.*")):
        return Linter("eslint", f"npx --no-install eslint --format json {FILES}", JS)
    if (workspace / "Cargo.toml").is_file():
        return Linter("clippy", "cargo clippy --quiet --message-format=short")
    if (workspace / "go.mod").is_file():
        return Linter("go vet", "go vet ./...")
    return None


def custom_linter(command: str) -> Linter:
    """``--lint-cmd``: any command that prints ``path:line: message`` lines (``{files}``: the changed files)."""
    return Linter("custom", command)


def _relative(path: str, workspace: Path) -> str:
    path = path.removeprefix("./")
    if os.path.isabs(path):
        try:
            return os.path.relpath(path, workspace)
        except ValueError:
            return path
    return path


def parse_lint(linter: str, output: str, workspace: Path) -> tuple[LintFinding, ...]:
    """The findings a linter printed: ruff's and eslint's JSON, else ``path:line[:col]: [CODE] message`` lines."""
    if linter in ("ruff", "eslint"):
        start = output.find("[")
        try:
            data = json.loads(output[start:]) if start >= 0 else []
        except ValueError:
            data = None
        if isinstance(data, list):
            return tuple(_json_findings(linter, data, workspace))
    found = []
    for m in LOCATED.finditer(output):
        rest = m.group("rest").strip()
        rule = RULE.match(rest)
        code = (rule.group("bracket") or rule.group("code") or "") if rule else ""
        message = rest[rule.end():] if rule else rest
        found.append(LintFinding(_relative(m.group("path"), workspace), code, message.strip(), int(m.group("line"))))
    return tuple(found)


def _json_findings(linter: str, data: list, workspace: Path) -> list[LintFinding]:
    out = []
    for item in data:
        if not isinstance(item, dict):
            continue
        if linter == "ruff":
            row = (item.get("location") or {}).get("row", 0) if isinstance(item.get("location"), dict) else 0
            out.append(LintFinding(_relative(str(item.get("filename", "")), workspace), str(item.get("code") or ""),
                                   str(item.get("message", "")), int(row or 0)))
            continue
        path = _relative(str(item.get("filePath", "")), workspace)
        for message in item.get("messages") or []:
            if isinstance(message, dict):
                out.append(LintFinding(path, str(message.get("ruleId") or ""), str(message.get("message", "")),
                                       int(message.get("line") or 0)))
    return out


def run_lint(ctx: ToolContext, linter: Linter, paths: list[str]) -> LintRun:
    """Lint ``paths`` (those the linter lints; the whole project when it takes no paths)."""
    command = linter.line([p for p in paths if linter.lints(p)])
    result = ctx.run(command)
    run = command_run(command, result, tests=False)
    missing = run.exit_code == 127 or "command not found" in result.output[-500:]
    findings = () if missing else parse_lint(linter.name, result.output, ctx.workspace)
    return LintRun(linter.name, command, run.exit_code, findings, missing)


def check_command(workspace: Path, given: str = "") -> str | None:
    """The tests the checks run: ``--test-cmd`` when given, else the command ``run_tests`` would run."""
    return given or detect_test_command(workspace)


def run_checks(ctx: ToolContext, tests: str | None, linter: Linter | None, paths: list[str],
               report_tokens: int = 400) -> CheckRun:
    """Run the tests (``tests``: the command, None: none) and the linter on ``paths`` (None or no path it
    lints: no lint run, unless it takes no paths); the failing tests' output comes back collapsed."""
    start = time.monotonic()
    run: CommandRun | None = None
    report = ""
    if tests:
        result = ctx.run(tests)
        run = command_run(tests, result, tests=True)
        if run.exit_code != 0:
            report = collapse(result.output, report_tokens)
    lint = None
    if linter is not None and (not linter.takes_paths or any(linter.lints(p) for p in paths)):
        lint = run_lint(ctx, linter, paths)
    return _redacted(CheckRun(run, lint, time.monotonic() - start, report))


def _redacted(run: CheckRun) -> CheckRun:
    """The run with the user's secret values taken out of its text, as ``ToolBox`` does for every tool."""
    from locoder.safety.secrets import redact, secret_env_values

    secrets = tuple(secret_env_values(os.environ))
    if not secrets:
        return run
    lint = run.lint
    if lint is not None:
        lint = dataclasses.replace(lint, findings=tuple(dataclasses.replace(f, message=redact(f.message, secrets))
                                                        for f in lint.findings))
    return dataclasses.replace(run, lint=lint, report=redact(run.report, secrets))


def collapse(output: str, max_tokens: int) -> str:
    """A test run's output as the ``ctx`` digest reads logs: failing tests, collapsed tracebacks (the exception
    and its innermost user frames) and error lines, each once with a count, cut to ``max_tokens`` (about 4
    characters each); the end of the output when the digest finds nothing."""
    from locoder.logs.digest import Digest, digest_lines

    digest = Digest()
    digest_lines(output.splitlines(), "output", digest)
    budget, lines = max_tokens * 4, []
    for event in digest.ordered():
        if event.kind == "error" and COUNTS_LINE.match(event.text):
            continue  # the runner's own summary line: the counts are shown already
        times = f" (x{event.count})" if event.count > 1 else ""
        block = "\n".join([event.text + times, *event.detail])
        if sum(len(x) + 1 for x in lines) + len(block) > budget:
            lines.append(f"... {len(digest.events) - len(lines)} more")
            break
        lines.append(block)
    return "\n".join(lines) if lines else output.strip()[-budget:]
