"""Builds an agent from settings: the model, the tools, the prompt, the sinks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from locoder.agent.router import TaskRouter
from locoder.config import Settings
from locoder.events import ApprovalAnswered, ApprovalAsked
from locoder.exceptions import ConfigError
from locoder.locations import PROJECT_CONFIG
from locoder.protocols import EventSink
from locoder.sandbox import Sandbox, SandboxPolicy, landlock
from locoder.sandbox.runners import bubblewrap, bubblewrap_works
from locoder.tools.guard import Approver, Rule, ToolPolicy
from locoder.tools.tests import command_env


def instructions(settings: Settings) -> str | None:
    """The user's own instructions from --system-prompt TEXT or @FILE, if any."""
    text = settings.system_prompt
    if not text.startswith("@"):
        return text or None
    try:
        return Path(text[1:]).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the system prompt file {text[1:]}: {exc.strerror}") from None


def prepare_state(settings: Settings) -> None:
    """Create the state folder, or say plainly why it cannot be."""
    try:
        settings.state_path.mkdir(parents=True, exist_ok=True)
        probe = settings.state_path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write the state folder {settings.state_path} ({exc.strerror}); "
            "make the workspace writable or pass --workspace DIR"
        ) from None
    exclude_state_from_git(settings.workspace_path, settings.state_path)


def exclude_state_from_git(workspace: Path, state: Path) -> None:
    """List the state folder in ``.git/info/exclude`` so ``git status`` and ``git add -A`` pass it by.

    Only a plain ``.git`` folder is touched (never through a symlink), and only to add the one line; a
    repository that cannot be written is left as it is.
    """
    try:
        relative = state.resolve().relative_to(workspace.resolve())
    except ValueError:
        return  # the state lives outside the workspace
    git = workspace / ".git"
    info = git / "info"
    if not git.is_dir() or git.is_symlink() or info.is_symlink():
        return
    line = f"/{relative.as_posix()}/"
    exclude = info / "exclude"
    try:
        if exclude.is_symlink():
            return
        text = exclude.read_text(encoding="utf-8", errors="replace") if exclude.exists() else ""
        if {line, line.rstrip("/"), line.lstrip("/"), line.strip("/")} & set(text.splitlines()):
            return
        info.mkdir(exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as handle:
            handle.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
    except OSError:
        pass


def readonly_in_workspace(settings: Settings) -> tuple[str, ...]:
    """What commands may not change inside the workspace: the state folder (wherever it is configured), the
    project configuration, and ``.git`` unless ``git_writable`` allows it."""
    return settings.state_paths.readonly(settings.git_writable)


def untrusted_message(settings: Settings) -> str:
    """What the user is told when widening settings of the project file were ignored."""
    shown = ", ".join(f"{k} = {v!r}" for k, v in sorted(settings.untrusted.items()))
    return (f"ignored from {PROJECT_CONFIG} (changed since you last trusted it): {shown}. Read the file; if "
            "these are yours, run 'locoder trust' to use them")


def build_sandbox(settings: Settings) -> Sandbox:
    full = settings.mode == "full-access"
    policy = SandboxPolicy(
        runner="plain" if full else settings.sandbox, network=settings.network or full,
        workspace_writable=settings.mode != "read-only", cpu_seconds=settings.cpu_seconds,
        memory_mb=settings.memory_mb, max_processes=settings.max_processes, disk_mb=settings.disk_mb,
        unix_sockets=settings.unix_sockets,
        env_allow=tuple(n.strip() for n in settings.env_allow.split(",") if n.strip()),
        readonly_in_workspace=readonly_in_workspace(settings),
    )
    if policy.runner == "bubblewrap" and not bubblewrap():
        raise ConfigError("sandbox = bubblewrap, but bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)")
    if policy.runner == "bubblewrap" and not bubblewrap_works():
        raise ConfigError("sandbox = bubblewrap, but bwrap cannot make namespaces on this machine "
                          "(user namespaces are off); use --sandbox landlock or auto")
    if policy.runner == "landlock" and landlock.abi() < 1:
        raise ConfigError("sandbox = landlock, but this kernel has no Landlock (Linux 5.13+ with lsm=landlock)")
    return Sandbox(settings.workspace_path, policy, env=command_env(os.environ))


def tool_policy(settings: Settings, interactive: bool) -> ToolPolicy:
    try:
        allow = tuple(Rule.parse(r) for r in settings.allow)
        deny = tuple(Rule.parse(r) for r in settings.deny)
    except (ValueError, re.error) as exc:
        raise ConfigError(f"policy rule: {exc}") from None
    approval = settings.approval or ("ask" if interactive else "auto")
    return ToolPolicy(mode=settings.mode, approval=approval, allow=allow, deny=deny)


SMALL_MODEL_PARAMETERS = 3_000_000_000
"""Models below this many parameters (where the backend can tell) choose better among the core tools."""


def server_facts(model):
    """What the model's server says about it (parameters, context window); zeros when it says nothing."""
    from locoder.models.facts import ModelFacts

    facts = getattr(getattr(model, "inner", model), "facts", None)
    return facts() if callable(facts) else ModelFacts()


def announced(approver: Approver, emit) -> Approver:
    """The approver, with the question and the answer emitted as events (the console stops its spinner)."""
    def ask(call, preview: str) -> str:
        emit(ApprovalAsked(call, preview))
        answer = approver(call, preview)
        emit(ApprovalAnswered(call, answer))
        return answer

    return ask


def build_agent(settings: Settings, sinks: Iterable[EventSink] = (), progress=None,
                approver: Approver | None = None) -> TaskRouter:
    """The session's task runner, for callers that only run tasks (``open_session`` gives the whole session)."""
    from locoder.agent.session import open_session

    return open_session(settings, sinks, progress, approver).router

