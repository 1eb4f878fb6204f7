"""The composition root: a ``Session`` built once from the settings. What the settings leave open (the
backend, the model's profile, how tool calls are made, which tools, the context window) is resolved here,
once, and every part is handed what it needs at construction; nothing is patched in afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from locoder import __version__
from locoder.agent.advisor import ToolAdvisor
from locoder.agent.changes import ChangeKeeper
from locoder.agent.checks import AutoChecks, CheckConfig
from locoder.agent.factory import (
    SMALL_MODEL_PARAMETERS,
    announced,
    build_sandbox,
    instructions,
    prepare_state,
    server_facts,
    tool_policy,
    untrusted_message,
)
from locoder.agent.finish import FinishGate
from locoder.agent.fix import FixConfig
from locoder.agent.knowledge import MemoryRecorder, TaskContext
from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.plan import gather_context
from locoder.agent.prompts import system_prompt
from locoder.agent.router import TaskRouter
from locoder.agent.saved import RECORDED, SavedSession, SessionSaver, fit_conversation, new_session
from locoder.agent.summary import SessionSummary
from locoder.audit import AuditLog
from locoder.config import Settings
from locoder.events import Event, SessionStarted, Warned
from locoder.exceptions import ConfigError
from locoder.knowledge import Knowledge
from locoder.locations import StatePaths
from locoder.memory import recent_notes
from locoder.messages import Message
from locoder.models import backend_kind, context_window, model_id, open_model
from locoder.models.probe import auto_tool_mode
from locoder.models.profiles import Profile, profile_for
from locoder.protocols import EventSink
from locoder.sandbox import Sandbox
from locoder.sandbox.runners import resolve_runner
from locoder.tools import ToolBox, ToolContext, all_tools, default_tools
from locoder.tools.guard import Approver, GuardedToolBox
from locoder.tools.tests import project_python


@dataclass
class Resolved:
    """What the settings leave to locoder, decided once for the session."""

    backend: str
    """``embedded``, ``openai``, ``ollama``, ``transformers`` or ``scripted``."""
    profile: Profile
    tool_mode: str
    toolset: str
    context_window: int
    facts: object | None
    """What an external server said about the model (``models.facts.ModelFacts``), or None."""


@dataclass
class Session:
    """One run of locoder: the settings, what was resolved from them, and the parts built from both."""

    settings: Settings
    resolved: Resolved
    state: StatePaths
    sandbox: Sandbox
    python: str
    """The project's Python (its ``.venv``, ``venv``, an active virtualenv, then the system's)."""
    knowledge: Knowledge
    audit: AuditLog
    summary: SessionSummary
    router: TaskRouter
    saver: SessionSaver | None = None
    """Keeps the session on disk for ``locoder resume``; its ``session`` is the saved record."""

    @property
    def agent(self) -> Agent:
        return self.router.agent

    @property
    def model(self):
        return self.router.agent.model


def resolve(settings: Settings, model, backend: str) -> Resolved:
    """The tool mode, the toolset and the context window for this model, from the settings where they are
    set, else from what the backend and the server tell."""
    profile = profile_for(model_id(settings))
    tool_mode = settings.tool_mode if settings.tool_mode != "auto" else auto_tool_mode(backend, model)
    facts = server_facts(model) if backend in ("openai", "ollama") else None
    toolset = settings.toolset
    if toolset == "auto":
        parameters = getattr(model, "parameters", 0) or (facts.parameters if facts else 0)
        small = 0 < parameters < SMALL_MODEL_PARAMETERS
        toolset = "core" if backend in ("embedded", "scripted") or small else "all"
    window = settings.context_window or (facts.context if facts and facts.context else 0) \
        or context_window(settings, profile)
    return Resolved(backend, profile, tool_mode, toolset, window, facts)


def open_session(settings: Settings, sinks: Iterable[EventSink] = (), progress=None,
                 approver: Approver | None = None, resume: SavedSession | None = None) -> Session:
    """Open the model and build every part of the session once; the model is closed again if that fails.
    ``resume``: a saved session (``agent.saved.find_session``) whose conversation this one goes on with,
    under its id; the current settings apply, whatever it was saved with."""
    prepare_state(settings)
    custom = instructions(settings)
    backend = backend_kind(settings)
    model = open_model(settings, progress=progress)
    try:
        resolved = resolve(settings, model, backend)
        return _assemble(settings, resolved, model, custom, list(sinks), approver, resume)
    except BaseException:
        model.close()
        raise


def _assemble(settings: Settings, resolved: Resolved, model, custom: str | None, sinks: list,
              approver: Approver | None, resume: SavedSession | None = None) -> Session:
    sandbox = build_sandbox(settings)
    if settings.mode == "read-only" and resolve_runner(sandbox.policy) == "plain":
        raise ConfigError("read-only mode needs bubblewrap or Landlock to keep commands from writing "
                          "(apt install bubblewrap)")
    state, workspace = settings.state_paths, settings.workspace_path
    knowledge = Knowledge(settings)
    audit = AuditLog(settings.audit_log_path, session_id=resume.id if resume is not None else None)
    python = project_python(workspace, sandbox.env)
    context = ToolContext(workspace=workspace, command_timeout=settings.command_timeout,
                          command_output_chars=settings.command_output_chars, env=sandbox.env, sandbox=sandbox,
                          knowledge=knowledge, state=state,
                          planner=lambda task: gather_context(settings, knowledge, task))
    agent: list[Agent] = []

    def emit(event: Event) -> None:
        agent[0].emit(event)  # the agent is built below; events come only once it runs

    toolbox = GuardedToolBox(ToolBox(all_tools() if resolved.toolset == "all" else default_tools(), context),
                             tool_policy(settings, interactive=approver is not None),
                             announced(approver, emit) if approver is not None else None)
    notes = recent_notes(state)
    prompt = system_prompt([t.openai_schema() for t in toolbox.tools.values()], workspace,
                           settings.max_actions_per_turn, notes=notes, instructions=custom, python=python)
    summary = SessionSummary(workspace, state, audit.session_id)
    advisor = _advisor(settings, state, toolbox, audit.session_id, emit)
    recorder = [MemoryRecorder(knowledge, audit.session_id, emit)] if settings.memory else []
    gate = FinishGate(toolbox, workspace, _checks(settings, context, emit))
    task_context = TaskContext(settings, knowledge, emit, known=notes)
    history = fit_conversation(Message("system", prompt), resume.messages, resolved.context_window -
                               settings.max_tokens) if resume is not None else []
    saver = _saver(settings, resolved, state, audit.session_id, resume, lambda: agent[0].messages, emit)
    agent.append(Agent(model, gate, _loop_config(settings, resolved), prompt,
                       sinks=[audit, summary, gate, saver, *recorder, *sinks,
                              _change_keeper(settings, approver, emit, audit)], advisor=advisor,
                       task_context=lambda task: "\n\n".join(p for p in (gate.task_evidence(task), task_context(task)) if p),
                       history=history))
    # Scripted replies are written for the loop; the harnesses run with them only when asked for.
    workflow = "loop" if settings.workflow == "auto" and resolved.backend == "scripted" else settings.workflow
    router = TaskRouter(agent[0], workspace, state, python, workflow,
                        FixConfig(attempts=settings.attempts, form=settings.repair_form))
    session = Session(settings, resolved, state, sandbox, python, knowledge, audit, summary, router, saver)
    _announce(session, prompt, toolbox, advisor, resume)
    return session


def _change_keeper(settings: Settings, approver: Approver | None, emit, audit: AuditLog) -> ChangeKeeper:
    """Commits (or checkpoints) each task's change: ``auto_commit``, by default on for ``run`` and asked in
    the interactive session."""
    mode = settings.auto_commit or ("ask" if approver is not None else "on")
    return ChangeKeeper(settings.workspace_path, settings.state_paths, mode, emit, audit.session_id,
                        announced(approver, emit) if approver is not None else None)


def _checks(settings: Settings, context: ToolContext, emit) -> AutoChecks | None:
    if not settings.auto_checks:
        return None
    return AutoChecks(context, CheckConfig(test_command=settings.test_cmd, lint_command=settings.lint_cmd,
                                           fix_attempts=settings.fix_attempts), emit)


def _loop_config(settings: Settings, resolved: Resolved) -> AgentConfig:
    return AgentConfig(max_steps=settings.max_steps, max_actions_per_turn=settings.max_actions_per_turn,
                       observation_summary_chars=settings.observation_summary_chars,
                       format_retries=settings.format_retries, repeat_limit=settings.repeat_limit,
                       tool_mode=resolved.tool_mode, tool_syntax=resolved.profile.tool_syntax,
                       context_window=resolved.context_window, max_tokens=settings.max_tokens,
                       doom_limit=settings.doom_limit)


def _saver(settings: Settings, resolved: Resolved, state: StatePaths, session_id: str,
           resume: SavedSession | None, messages, emit) -> SessionSaver:
    """The sink that saves the session: a new record, or the resumed one (its tasks go on; the settings it
    records are the current ones, as they are the ones that apply)."""
    recorded = {name: getattr(settings, name) for name in RECORDED}
    recorded.update(backend=resolved.backend, tool_mode=resolved.tool_mode, toolset=resolved.toolset,
                    context_window=resolved.context_window, locoder=__version__)
    record = resume if resume is not None else new_session(session_id, settings.workspace_path, recorded)
    record.settings = recorded
    return SessionSaver(state, record, messages, warn=lambda message: emit(Warned(message)))


def _advisor(settings: Settings, state: StatePaths, toolbox: GuardedToolBox, session_id: str, emit):
    if not settings.rl:
        return None
    return ToolAdvisor(state, list(toolbox.tools.values()), settings.workspace_path, epsilon=settings.rl_epsilon,
                       cooldowns=settings.cooldowns(), hint=settings.rl_hint, session=session_id,
                       descriptions={name: t.description for name, t in toolbox.tools.items()},
                       notify=lambda message: emit(Warned(message)))


def _announce(session: Session, prompt: str, toolbox: GuardedToolBox, advisor, resume: SavedSession | None) -> None:
    """The audit log's first record, then the warnings the session starts with."""
    settings, resolved, agent = session.settings, session.resolved, session.agent
    facts = resolved.facts
    agent.emit(SessionStarted(
        locoder=__version__, model=agent.model.name, tool_mode=resolved.tool_mode,
        context_window=resolved.context_window,
        server_facts={"parameters": facts.parameters, "context": facts.context} if facts else None,
        profile=resolved.profile.family, backend=resolved.backend, tools=toolbox.names(), settings=settings.dump(),
        system_prompt=prompt, sandbox=session.sandbox.describe(),
        policy={"mode": settings.mode, "approval": toolbox.policy.approval},
        resumed={"session": resume.id, "tasks": len(resume.tasks), "messages": len(agent.messages) - 1}
        if resume is not None else None,
        session=session.audit.session_id))
    if advisor is not None and advisor.warning:
        agent.emit(Warned(advisor.warning))
    if settings.untrusted:
        agent.emit(Warned(untrusted_message(settings), kind="untrusted_config", ignored=sorted(settings.untrusted)))

