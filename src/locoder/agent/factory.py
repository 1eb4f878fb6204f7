"""Builds an agent from settings: the model, the tools, the prompt, the sinks."""

from __future__ import annotations

import os
from collections.abc import Iterable

from locoder import __version__
from locoder.agent.loop import Agent, AgentConfig
from locoder.agent.prompts import system_prompt
from locoder.audit import AuditLog
from locoder.config import Settings
from locoder.exceptions import ConfigError
from locoder.memory import recent_notes
from locoder.models import backend_kind, open_model
from locoder.protocols import EventSink
from locoder.tools import ToolBox, ToolContext, default_tools


def resolve_tool_mode(settings: Settings) -> str:
    if settings.tool_mode != "auto":
        return settings.tool_mode
    return "native" if backend_kind(settings.model) == "openai" else "constrained"


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


def build_agent(settings: Settings, sinks: Iterable[EventSink] = (), progress=None) -> Agent:
    prepare_state(settings)
    audit = AuditLog(settings.audit_log_path)
    model = open_model(settings, progress=progress)
    context = ToolContext(
        workspace=settings.workspace_path,
        command_timeout=settings.command_timeout,
        command_output_chars=settings.command_output_chars,
        env=dict(os.environ),
    )
    toolbox = ToolBox(default_tools(), context)
    schemas = [t.openai_schema() for t in toolbox.tools.values()]
    prompt = system_prompt(schemas, settings.workspace_path, settings.max_actions_per_turn,
                           notes=recent_notes(settings.state_path))
    config = AgentConfig(
        max_steps=settings.max_steps,
        max_actions_per_turn=settings.max_actions_per_turn,
        observation_summary_chars=settings.observation_summary_chars,
        format_retries=settings.format_retries,
        repeat_limit=settings.repeat_limit,
        tool_mode=resolve_tool_mode(settings),
        context_window=settings.context_window,
        max_tokens=settings.max_tokens,
    )
    agent = Agent(model, toolbox, config, prompt, sinks=[audit, *sinks])
    agent.emit({"type": "session", "locoder": __version__, "model": model.name, "tool_mode": config.tool_mode,
                "tools": toolbox.names(), "settings": settings.dump(), "system_prompt": prompt})
    return agent
