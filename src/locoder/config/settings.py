"""Settings: one object, one precedence order.

flags > environment > ``.locoder.toml`` in the workspace > ``~/.config/locoder/config.toml`` > defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from locoder.exceptions import ConfigError
from locoder.locations import PROJECT_CONFIG, STATE_DIR, StatePaths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Settings:
    """Every field can come from a flag, an environment variable, or a config file key of the same name."""

    model: str = "qwen2.5-coder-1.5b"
    """An embedded model name (``locoder models list``), a .gguf file, an ``http(s)://.../v1`` URL,
    ``ollama:NAME``, a transformers model folder or id (with ``backend = "transformers"``), or ``scripted:FILE``."""
    backend: str = "auto"
    """``auto`` (from the model setting), ``embedded``, ``openai``, ``ollama`` or ``transformers``."""
    model_name: str = ""
    """The model id sent to an external server (``MODEL_NAME``); empty: the server's first model."""
    api_key: str = field(default="", repr=False)
    """Key for an external server (``OPENAI_API_KEY``). Never logged."""
    tool_mode: str = "auto"
    """How tool calls are obtained: ``constrained`` (JSON-schema decoding), ``native`` (``tools=``),
    ``text`` (parse free text), or ``auto`` (constrained for the embedded model, native otherwise)."""
    workspace: str = "."
    """The only directory the agent reads and writes."""
    state_dir: str = STATE_DIR
    """Per-workspace state folder (relative to the workspace): logs, memory, history."""
    audit_log: str = ""
    """Audit log path; empty: ``<state_dir>/logs/agent_audit.jsonl``."""
    models_dir: str = ""
    """Where assembled model files live; empty: ``~/.cache/locoder/models`` (or ``LOCODER_MODELS_DIR``)."""
    max_steps: int = 30
    """Model turns per task before it stops as failed."""
    max_actions_per_turn: int = 1
    """Tool calls the model may make in one turn."""
    observation_summary_chars: int = 4000
    """Observations longer than this are cut to their head and tail."""
    format_retries: int = 3
    """Consecutive unparseable outputs tolerated before the task fails."""
    repeat_limit: int = 3
    """The same call this many times in a row stops the task."""
    doom_limit: int = 4
    """The same command failing the same way this many times in a task stops it (``doom_loop``), edits in
    between or not; a file set back to earlier content (an edit undone and redone) one time fewer."""
    command_timeout: float = 120.0
    """Seconds a command may run before its whole process group is killed."""
    command_output_chars: int = 20000
    """Characters of command output kept (head and tail)."""
    temperature: float = 0.2
    max_tokens: int = 1024
    """Most tokens the model may generate per turn."""
    context_window: int = 0
    """Context size in tokens; 0: 8192 for the embedded model, else the model family's default (at most 16384).
    The embedded server and Ollama (``num_ctx``) are started with it."""
    request_timeout: float = 300.0
    """Seconds one model request may take in all, from sending it to the last streamed token (HTTP backends:
    OpenAI-compatible, embedded, Ollama); a server that trickles keep-alives cannot hold a request longer."""
    connect_retries: int = 3
    """Retries on connection errors and 5xx responses, with exponential backoff."""
    threads: int = 0
    """CPU threads for the embedded model; 0: all cores."""
    prune_chunks: bool = False
    """Delete the model's chunk packages after assembling the model file."""
    thinking: str = "auto"
    """``on``/``off`` switch the thinking mode of models that have one (``enable_thinking``); ``auto`` leaves it."""
    system_prompt: str = ""
    """Instructions replacing locoder's own (TEXT, or @FILE); the tool list and reply format are always added."""
    disable_system_prompt: bool = False
    """Send the instructions in the first user turn instead of a system message (for models that ignore it)."""
    ollama_url: str = "http://127.0.0.1:11434"
    """Ollama server (``OLLAMA_HOST``)."""
    first_token_timeout: float = 30.0
    """Ollama: seconds to wait for each streamed line, the first token included."""
    device_map: str = "auto"
    """transformers: ``auto``, ``cuda``, ``cpu`` or ``mps``."""
    torch_dtype: str = "auto"
    """transformers: ``auto``, ``float16``, ``bfloat16`` or ``float32``."""
    quantization: str = "none"
    """transformers: ``none``, ``8bit`` or ``4bit`` (bitsandbytes, CUDA only)."""
    trust_remote_code: bool = False
    """transformers: run code shipped with the model."""
    low_cpu_mem_usage: bool = False
    """transformers: load weights with less peak memory."""
    gguf_file: str = ""
    """transformers: a GGUF file inside the model folder (or a path) to load through ``gguf_file=``."""
    mode: str = "workspace-write"
    """``read-only`` (no changes: commands see the workspace read-only), ``workspace-write``, or
    ``full-access`` (commands unconfined, network on)."""
    approval: str = ""
    """``ask`` (show each change or command and confirm), ``auto``, or ``never`` (refuse them);
    empty: ask in the interactive session, auto for ``locoder run``."""
    allow: tuple[str, ...] = ()
    """Rules ``TOOL:PATTERN`` (glob, or ``re:REGEX``) of calls that run without asking."""
    deny: tuple[str, ...] = ()
    """Rules ``TOOL:PATTERN`` of calls that are always refused, e.g. ``run_command:git push*``."""
    toolset: str = "auto"
    """``core`` (files, grep, commands), ``all`` (also code search, memory, docs, context7, intel,
    run_python, install_package, download_file, search_web), or ``auto``: core for the embedded models and
    for in-process models under 3B parameters, which choose better among fewer tools; all otherwise."""
    sandbox: str = "auto"
    """How commands are confined: ``auto`` (bubblewrap where it works, else Landlock), ``bubblewrap``,
    ``landlock``, or ``plain``."""
    network: bool = False
    """Let model-run commands reach the network (under bubblewrap; installs need it)."""
    cpu_seconds: int = 600
    """CPU seconds a command may use; 0: no limit."""
    memory_mb: int = 8192
    """Address space per process of a command, MiB; 0: no limit."""
    max_processes: int = 256
    """Processes a command may have at once (stops fork bombs)."""
    disk_mb: int = 4096
    """Disk a command may fill in all (workspace growth plus its scratch folders), MiB; past it the command
    is stopped; 0: no cap. Raising it (or 0) widens what commands may do."""
    unix_sockets: bool = False
    """Let model-run commands make unix sockets (multiprocessing forkserver/managers need them). Off, host
    services on unix sockets (tmux, databases, agents) are unreachable. Widens what commands may do."""
    repo_map_tokens: int = 512
    """Tokens of repo map sent with each task: the files and definitions that matter most for it,
    from the code index (``<state_dir>/index/``); 0: none."""
    memory: bool = True
    """Remember each task, final answer and note as a vector, and send the relevant ones with each task."""
    memory_vector_dir: str = ""
    """Where the vector memory lives; empty: ``<state_dir>/memory``."""
    memory_tokens: int = 200
    """Tokens of recalled memories sent with a task; 0: none (the ``recall`` tool still works)."""
    memory_min_score: float = 0.45
    """Cosine similarity a note needs to be sent with a task; an earlier answer needs 0.15 more, an earlier
    request 0.4 more (nearly the same request), so the model does not take up an old task as the new one."""
    docs_dirs: tuple[str, ...] = ("docs",)
    """Documentation folders (relative to the workspace) for ``docs_lookup`` and automatic passages; the
    workspace's top-level README is always included."""
    docs_tokens: int = 300
    """Tokens of documentation passages sent with a task when they are relevant; 0: none."""
    docs_min_score: float = 0.45
    """Cosine similarity a passage needs to be sent with a task."""
    context7_url: str = ""
    """A context7 API base (``CONTEXT7_URL``), e.g. ``https://context7.com/api``; empty: not used."""
    context7_api_key: str = field(default="", repr=False)
    """Key for context7 (``CONTEXT7_API_KEY``); from the environment or config only. Never logged."""
    context7_chars: int = 256
    """Characters of each context7 passage kept before it enters the prompt."""
    rl: bool = True
    """Learn which tool helps: before each step a bandit suggests a tool (shown, and given to the model as a
    hint once it has evidence); each step's outcome is scored and the policy is kept in
    ``<state_dir>/rl_state.json``, with reward events in ``rl_events.jsonl``. ``--no-rl`` turns it off."""
    rl_epsilon: float = 0.05
    """How often the bandit suggests a random tool to keep exploring (0 to 1). Exploring suggestions are
    shown to the user but never given to the model as hints."""
    rl_hint: bool = True
    """Give the model the bandit's suggestion as a hint (when it has evidence); off: only show it."""
    rl_cooldowns: tuple[str, ...] = ("index=300", "emb_index=600")
    """``TOOL=SECONDS``: heavy tools are not suggested again within this time of their last run."""
    workflow: str = "auto"
    """How tasks are worked on: ``fix`` (the bug-fix harness: reproduce with the tests, localise, one repair
    at a time, validate), ``ask`` (questions answered from retrieved code), ``loop`` (the free-form tool loop),
    or ``auto``: fix for reports of wrong behaviour in a Python project with tests, ask for questions, the loop
    otherwise. The harnesses hand a task to the loop when they cannot work on it."""
    attempts: int = 3
    """Bug-fix harness: candidate repairs to try (other functions, then samples); the first that passes is kept."""
    repair_form: str = "fenced"
    """Bug-fix harness: how the model writes a repair: ``fenced`` (the whole function in a code block),
    ``function`` (the whole function as a JSON string), ``search_replace`` or ``diff`` (both JSON)."""
    auto_checks: bool = True
    """After the loop's edits, run the project's checks (its tests and its linter) by themselves and show the
    model what fails; also run the tests at the start of a bug-fix task. ``--no-auto-checks`` turns it off."""
    test_cmd: str = ""
    """The command that runs the project's tests for the checks; empty: the one ``run_tests`` finds.
    Runs a command: taken from ``.locoder.toml`` only once it is trusted."""
    lint_cmd: str = ""
    """The linter for the checks; ``{files}`` in it stands for the changed files; empty: the one the project
    shows (ruff, flake8, eslint, cargo clippy, go vet). Runs a command: from ``.locoder.toml`` only trusted."""
    fix_attempts: int = 3
    """Rounds in a row of failing checks shown to the model before they stop running after edits (per task)."""
    env_allow: str = ""
    """Comma-separated names of secret-looking environment variables that commands may see."""
    auto_commit: str = ""
    """At the end of each task in a git repository, commit the files the task changed (never files you had
    edited and not committed before it): ``on``, ``off``, or ``ask``; empty: on for ``locoder run``, ask in the
    interactive session (``ask`` where nobody can answer leaves the change uncommitted). Outside git a checkpoint
    is kept instead, whatever this says."""
    git_writable: bool = False
    """Let model-run commands change ``.git`` (commit, branch, config, hooks). Off: ``.git`` is read-only to
    them under bubblewrap (Landlock cannot protect a folder inside the workspace). Widening."""

    untrusted: dict[str, Any] = field(default_factory=dict, repr=False, metadata={"internal": True})
    """Set by ``load_settings``, never read from a file: settings of the workspace's ``.locoder.toml`` that
    would widen what the agent may do and were ignored, because the file changed since ``locoder trust``."""

    def dump(self) -> dict[str, Any]:
        """A copy safe to log: secrets removed."""
        data = asdict(self)
        data["api_key"] = "***" if self.api_key else ""
        data["context7_api_key"] = "***" if self.context7_api_key else ""
        return data

    def cooldowns(self) -> dict[str, float]:
        """``rl_cooldowns`` as seconds per tool."""
        out = {}
        for item in self.rl_cooldowns:
            name, sep, seconds = item.partition("=")
            try:
                out[name.strip()] = float(seconds)
            except ValueError:
                sep = ""
            if not sep or not name.strip():
                raise ConfigError(f"rl_cooldowns: {item!r} is not TOOL=SECONDS, e.g. index=300")
        return out

    @property
    def workspace_path(self) -> Path:
        return Path(self.workspace).expanduser().resolve()

    @property
    def state_paths(self) -> StatePaths:
        """Every file of the workspace's state, from ``state_dir``, ``audit_log`` and ``memory_vector_dir``."""
        return StatePaths.for_workspace(
            self.workspace_path, self.state_dir,
            audit_log=Path(self.audit_log).expanduser().resolve() if self.audit_log else None,
            memory=Path(self.memory_vector_dir).expanduser().resolve() if self.memory_vector_dir else None)

    @property
    def state_path(self) -> Path:
        return self.state_paths.root

    @property
    def memory_path(self) -> Path:
        return self.state_paths.memory

    @property
    def audit_log_path(self) -> Path:
        return self.state_paths.audit_log


# Environment variables that map to settings. Generic names are the ones users of other tools already set.
ENV_VARS: dict[str, str] = {
    "OPENAI_BASE_URL": "model",
    "OPENAI_API_KEY": "api_key",
    "MODEL_NAME": "model_name",
    "LOCODER_MODEL": "model",
    "LOCODER_TOOL_MODE": "tool_mode",
    "LOCODER_MAX_STEPS": "max_steps",
    "LOCODER_CONTEXT_WINDOW": "context_window",
    "LOCODER_MODELS_DIR": "models_dir",
    "LOCODER_THREADS": "threads",
    "LOCODER_BACKEND": "backend",
    "OLLAMA_HOST": "ollama_url",
    "LOCODER_SANDBOX": "sandbox",
    "CONTEXT7_URL": "context7_url",
    "CONTEXT7_API_KEY": "context7_api_key",
}

_FIELDS = {f.name: f for f in fields(Settings) if not f.metadata.get("internal")}


def _coerce(name: str, value: Any, source: str) -> Any:
    default = getattr(Settings, name, None)
    kind = type(default) if default is not None else str
    try:
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if kind is bool and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(value)
            return lowered in {"1", "true", "yes", "on"}
        if kind is float:
            return float(value)
        if kind is int and not isinstance(value, bool):
            return int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: '{name}' must be a {kind.__name__}, got {value!r}") from None


GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("model", "backend", "model_name", "api_key", "tool_mode", "temperature", "max_tokens",
              "context_window", "request_timeout", "connect_retries", "threads", "prune_chunks", "thinking",
              "system_prompt", "disable_system_prompt", "ollama_url", "first_token_timeout", "device_map",
              "torch_dtype", "quantization", "trust_remote_code", "low_cpu_mem_usage", "gguf_file", "models_dir"),
    "sandbox": ("sandbox", "mode", "approval", "allow", "deny", "network", "cpu_seconds", "memory_mb",
                "max_processes", "disk_mb", "unix_sockets", "env_allow", "git_writable", "command_timeout",
                "command_output_chars"),
    "knowledge": ("repo_map_tokens", "memory", "memory_vector_dir", "memory_tokens", "memory_min_score",
                  "docs_dirs", "docs_tokens", "docs_min_score", "context7_url", "context7_api_key",
                  "context7_chars"),
    "learning": ("rl", "rl_epsilon", "rl_hint", "rl_cooldowns"),
}
"""The settings a config file may also write as a table (``[sandbox]`` ``mode = "read-only"``); the others
(workspace, state, the loop's limits, the workflows) stay at the top level. In a table a key is the setting's
name, or its name without the group's prefix (``[learning] epsilon``), or an alias of ``ALIASES``."""
ALIASES = {"model": {"name": "model"}, "sandbox": {"runner": "sandbox"}, "learning": {"enabled": "rl"}}


def _table_key(group: str, key: str) -> str | None:
    """The setting a key of table ``group`` names, or None."""
    fields_ = GROUPS[group]
    name = ALIASES.get(group, {}).get(key) or key
    if name in fields_:
        return name
    prefix = {"learning": "rl_"}.get(group, "")
    return prefix + key if prefix and prefix + key in fields_ else None


def _flatten(section: dict[str, Any], path: Path) -> dict[str, Any]:
    """A config file's settings by name, tables read into the settings they group; an unknown key or table,
    or a setting given twice, is an error (never dropped)."""
    flat: dict[str, Any] = {}
    unknown: list[str] = []

    def put(name: str, value: Any, shown: str) -> None:
        if name in flat:
            raise ConfigError(f"{path}: {name} is set twice (once as {shown})")
        flat[name] = value

    for key, value in section.items():
        if isinstance(value, dict) and key in GROUPS:
            for inner, item in value.items():
                name = _table_key(key, inner)
                if name is None:
                    home = next((g for g, names in GROUPS.items() if inner in names), None)
                    unknown.append(f"[{key}] {inner}" + (f" (it belongs in [{home}])" if home else ""))
                else:
                    put(name, item, f"[{key}] {inner}")
        elif key in _FIELDS and not isinstance(value, dict):
            put(key, value, key)
        else:
            unknown.append(f"[{key}]" if isinstance(value, dict) else key)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return flat


def _read_toml(path: Path, raw: bytes | None = None) -> dict[str, Any]:
    if raw is None and not path.is_file():
        return {}
    try:
        data = tomllib.loads((path.read_bytes() if raw is None else raw).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    section = data.get("locoder", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [locoder] must be a table")
    return {k: _coerce(k, v, str(path)) for k, v in _flatten(section, path).items()}


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "locoder" / "config.toml"


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> Settings:
    """Merge the sources in precedence order. ``flags`` holds only options the user gave."""
    env = os.environ if env is None else env
    flags = dict(flags or {})
    values: dict[str, Any] = {}
    values.update(_read_toml(user_config or user_config_path(env)))
    # The workspace decides which project file is read, so resolve it first from the strongest source.
    workspace = flags.get("workspace") or env.get("LOCODER_WORKSPACE") or values.get("workspace") or "."
    project, untrusted = _project_settings(Path(workspace).expanduser() / PROJECT_CONFIG, env)
    values.update(project)
    for var, name in ENV_VARS.items():
        if env.get(var):
            values[name] = _coerce(name, env[var], f"${var}")
    if env.get("USE_OLLAMA", "").lower() in {"1", "true", "yes", "on"}:
        values["backend"] = "ollama"
        if env.get("OLLAMA_MODEL"):
            values["model"] = env["OLLAMA_MODEL"]
    for name, value in flags.items():
        if value is None:
            continue
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting '{name}'")
        values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    values["workspace"] = workspace
    settings = Settings(**values)
    settings.untrusted = untrusted
    _validate(settings)
    return settings


def _project_settings(path: Path, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workspace file's settings, less those that widen what the agent may do when the file is not the
    one the user last confirmed (``locoder trust``); and those left out. Read once, hashed as read."""
    from locoder.config import trust

    try:
        raw = path.read_bytes() if path.is_file() else None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    if raw is None:
        return {}, {}
    values = _read_toml(path, raw)
    wide = trust.widening(values, {k: f.default for k, f in _FIELDS.items()})
    if not wide or trust.is_trusted(path, raw, env):
        return values, {}
    return {k: v for k, v in values.items() if k not in wide}, wide


CHOICES: dict[str, tuple[str, ...]] = {
    "tool_mode": ("auto", "constrained", "native", "text"),
    "backend": ("auto", "embedded", "openai", "ollama", "transformers"),
    "thinking": ("auto", "on", "off"),
    "device_map": ("auto", "cuda", "cpu", "mps"),
    "torch_dtype": ("auto", "float16", "bfloat16", "float32"),
    "quantization": ("none", "8bit", "4bit"),
    "sandbox": ("auto", "bubblewrap", "landlock", "plain"),
    "toolset": ("auto", "core", "all"),
    "mode": ("read-only", "workspace-write", "full-access"),
    "approval": ("ask", "auto", "never", ""),
    "workflow": ("auto", "fix", "ask", "loop"),
    "repair_form": ("function", "fenced", "search_replace", "diff"),
    "auto_commit": ("on", "off", "ask", ""),
}
"""The values each enumerated setting may take, in the order the command line's help lists them; the
command line's ``choices`` and the settings' validation both read this table ("" for approval: not set, the
mode decides)."""


def _validate(s: Settings) -> None:
    flag = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
    s.auto_commit = flag.get(str(s.auto_commit).strip().lower(), str(s.auto_commit).strip().lower())
    for name, allowed in CHOICES.items():
        if getattr(s, name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(sorted(allowed))}, not {getattr(s, name)!r}")
    if s.context_window < 0:
        raise ConfigError("context_window must be 0 (automatic) or a number of tokens")
    for name in ("max_steps", "max_actions_per_turn", "max_tokens", "format_retries", "attempts", "fix_attempts"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if s.repeat_limit < 2:
        raise ConfigError("repeat_limit must be at least 2")
    if s.doom_limit < 3:
        raise ConfigError("doom_limit must be at least 3")
    if not 0.0 <= s.rl_epsilon <= 1.0:
        raise ConfigError("rl_epsilon must be between 0 and 1")
    s.cooldowns()
    if s.ollama_url and "://" not in s.ollama_url:
        s.ollama_url = f"http://{s.ollama_url}"  # OLLAMA_HOST is often written as host:port
    if not s.workspace_path.is_dir():
        raise ConfigError(f"workspace {s.workspace_path} is not a directory; pass --workspace DIR")
