"""Other coding agents, run on the same tasks and the same model server as locoder: Aider and mini-swe-agent.

Each peer lives in its own virtualenv under ``~/.cache/locoder/peers/<name>-<version>`` (``ensure_peer``).
``run_aider`` and ``run_mini_swe_agent`` run it once in a repository: non-interactive, offline, inside
locoder's sandbox (writes only in the repository, home and secrets hidden, the whole process group killed on
timeout), with its model requests going through a ``CountingProxy`` so that tokens are counted as they are
for locoder. The command lines are pure functions (``aider_command``, ``mswea_command``), tested as data.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from locoder import gitsafe
from locoder.bench.proxy import CountingProxy
from locoder.exceptions import LocoderError
from locoder.locations import StatePaths
from locoder.locations import cache_dir as user_cache_dir
from locoder.locking import locked
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.sandbox.runners import resolve_runner


class PeerError(LocoderError):
    """Installing or starting a peer agent failed; the message says what to do. (Kept here rather than in
    ``locoder.exceptions``: only the benchmark raises it.)"""


@dataclass(frozen=True)
class PeerSpec:
    name: str
    package: str
    version: str
    executable: str
    """The console script in the virtualenv's ``bin``."""


PEERS = {
    "aider": PeerSpec("aider", "aider-chat", "0.86.2", "aider"),
    "mini-swe-agent": PeerSpec("mini-swe-agent", "mini-swe-agent", "2.4.6", "mini"),
}
# Neither peer needs torch; a dependency that asked for it would download gigabytes of CUDA wheels, so the
# resolver is told no version of it exists and fails at once instead.
INSTALL_CONSTRAINTS = "torch==0\n"
# Variables of the user's own setup of these tools: left out, so a run depends only on its arguments.
_PEER_ENV_PREFIXES = ("AIDER_", "MSWEA_", "LITELLM_", "OPENAI_")
_STAMP = ".locoder-installed"
MAX_LOG_BYTES = 32 << 20


@dataclass
class PeerCommand:
    argv: list[str]
    env: dict[str, str]
    """Variables set for the peer, on top of the (filtered) environment."""


@dataclass
class PeerRun:
    """How one peer run ended. Tokens are the server's own ``usage``, counted by the proxy."""

    agent: str
    exit_code: int | None
    """None when it timed out or could not start."""
    timed_out: bool
    seconds: float
    requests: int
    prompt_tokens: int
    completion_tokens: int
    log_path: Path
    """The peer's whole stdout and stderr."""
    changed: str
    """``git diff --stat`` of the repository against the commit it started from (tracked files only)."""
    failed_requests: int = 0
    sandbox: str = ""
    """The runner that confined it: bubblewrap, landlock or plain (not confined)."""
    settings: dict[str, object] = field(default_factory=dict)
    """The choices this run was made with (edit format, step limit, ...), for the report."""
    finish: str = ""
    """How the peer says it stopped, from its log (``peer_finish``): both exit 0 whether or not they succeed."""
    estimated_requests: int = 0
    """Requests cut mid-stream (at the timeout): completion tokens counted from the chunks, prompt tokens unknown."""


def peer_dir(name: str, cache_dir: Path | None = None) -> Path:
    spec = _spec(name)
    root = Path(cache_dir) if cache_dir else user_cache_dir() / "peers"
    return root / f"{spec.name}-{spec.version}"


def installed_peer(name: str, cache_dir: Path | None = None) -> Path | None:
    """The peer's executable if ``ensure_peer`` finished installing it, else None. Installs nothing."""
    spec = _spec(name)
    root = peer_dir(name, cache_dir)
    executable = root / "bin" / spec.executable
    try:
        stamp = json.loads((root / _STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("package") != spec.package or stamp.get("version") != spec.version:
        return None
    return executable if executable.is_file() else None


def ensure_peer(name: str, cache_dir: Path | None = None, *, python: str | None = None,
                timeout: float = 1800.0) -> Path:
    """Install the pinned peer into its own virtualenv (once; later calls return at once) and return its
    executable. Raises ``PeerError`` with pip's last lines when the install fails."""
    spec = _spec(name)
    root = peer_dir(name, cache_dir)
    with locked(root.parent / f".{root.name}.lock"):  # two benchmarks starting at once install once
        if (done := installed_peer(name, cache_dir)) is not None:
            return done
        shutil.rmtree(root, ignore_errors=True)  # a half-finished earlier attempt
        log = root.parent / f"{root.name}.install.log"
        constraints = root.parent / f"{root.name}.constraints.txt"
        constraints.write_text(INSTALL_CONSTRAINTS)
        steps = [[python or sys.executable, "-m", "venv", str(root)],
                 [str(root / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                  "-c", str(constraints), f"{spec.package}=={spec.version}"]]
        with open(log, "w") as out:
            for step in steps:
                try:
                    code = subprocess.run(step, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          timeout=timeout).returncode
                except (OSError, subprocess.TimeoutExpired) as exc:
                    code, out_text = -1, str(exc)
                    out.write(f"\n{out_text}\n")
                if code != 0:
                    out.flush()
                    shutil.rmtree(root, ignore_errors=True)
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                    raise PeerError(f"installing {spec.package}=={spec.version} failed ({shlex.join(step[:4])}... "
                                    f"exit {code}); full log: {log}\n{tail}")
        executable = root / "bin" / spec.executable
        if not executable.is_file():
            raise PeerError(f"{spec.package}=={spec.version} installed but {executable} is missing; log: {log}")
        (root / _STAMP).write_text(json.dumps({"package": spec.package, "version": spec.version}))
        return executable


def model_metadata(model: str, context_window: int) -> dict[str, dict[str, object]]:
    """LiteLLM-style metadata for ``openai/<model>``: its real context window and no price (a local model).
    Aider reads it with ``--model-metadata-file`` (it sizes the repo map from it); mini-swe-agent registers it
    so that LiteLLM's cost lookup finds the model."""
    return {f"openai/{model}": {
        "max_input_tokens": context_window,
        # llama.cpp has no separate cap on output: a reply may use whatever the prompt leaves of the window.
        "max_output_tokens": context_window,
        "max_tokens": context_window,
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "litellm_provider": "openai",
        "mode": "chat",
    }}


def aider_command(executable: Path | str, task: str, base_url: str, model: str, *, metadata_file: Path | str,
                  edit_format: str = "whole", test_cmd: str | None = None, map_tokens: int | None = None,
                  request_timeout: float | None = None) -> PeerCommand:
    """Aider, one message and exit, answering yes to its questions, nothing sent anywhere but ``base_url``.

    The repo map stays on with aider's own size for the window (an eighth of it); no files are added, so aider
    finds them itself, as for a user who only types the task."""
    argv = [str(executable), "--model", f"openai/{model}", "--openai-api-base", base_url,
            "--model-metadata-file", str(metadata_file), "--edit-format", edit_format,
            # Offline and unattended: no update check, analytics, release notes, URL scraping or prompts.
            "--no-check-update", "--analytics-disable", "--no-analytics", "--no-show-release-notes",
            "--no-show-model-warnings", "--no-detect-urls", "--yes-always", "--no-fancy-input", "--no-pretty",
            # The repository is the task's: aider neither commits nor edits its .gitignore.
            "--no-gitignore", "--no-auto-commits", "--no-dirty-commits",
            # Its history files would be left in the repository; the log has the same text.
            "--input-history-file", os.devnull, "--chat-history-file", os.devnull, "--encoding", "utf-8"]
    if map_tokens is not None:
        argv += ["--map-tokens", str(map_tokens)]
    if request_timeout:
        argv += ["--timeout", f"{request_timeout:g}"]
    if test_cmd:
        argv += ["--test-cmd", test_cmd, "--auto-test"]
    argv += ["--message", task]
    env = {"OPENAI_API_KEY": "none", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return PeerCommand(argv, env)


def mswea_command(executable: Path | str, task: str, base_url: str, model: str, *,
                  config: Path | str = "mini_textbased.yaml", step_limit: int = 30, wall_seconds: int = 0,
                  registry_file: Path | str | None = None) -> PeerCommand:
    """mini-swe-agent's ``mini`` in text mode (one fenced command per reply, which this model writes more
    reliably than native tool calls), yolo, exiting when the model submits. The cost limit is off (a local
    model costs nothing), so ``step_limit`` (locoder's default of 30) and ``wall_seconds`` bound the run."""
    argv = [str(executable), "--model", f"openai/{model}", "--model-class", "litellm_textbased",
            "-c", str(config), "-c", f"model.model_kwargs.api_base={base_url}",
            "-c", f"agent.step_limit={step_limit}", "--cost-limit", "0", "--yolo", "--exit-immediately"]
    if wall_seconds:
        argv += ["-c", f"agent.wall_time_limit_seconds={wall_seconds}"]
    if registry_file:
        argv += ["-c", f"model.litellm_model_registry={registry_file}"]
    argv += ["--task", task]
    env = {"OPENAI_API_KEY": "none", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors"}
    return PeerCommand(argv, env)


def server_context_window(base_url: str) -> int | None:
    """The context window the server reports in ``/models`` (llama.cpp ``meta.n_ctx``, vLLM
    ``max_model_len``), or None."""
    import httpx

    try:
        data = httpx.get(base_url.rstrip("/") + "/models", timeout=30).json().get("data") or []
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    for entry in data:
        value = (entry.get("meta") or {}).get("n_ctx") or entry.get("max_model_len")
        if isinstance(value, int) and value > 0:
            return value
    return None


def run_aider(repo: Path, task: str, base_url: str, model: str, timeout: float, test_cmd: str | None = None, *,
              log_path: Path | None = None, edit_format: str = "whole", map_tokens: int | None = None,
              context_window: int | None = None, runner: str = "auto", cache_dir: Path | None = None) -> PeerRun:
    """Run Aider once on ``task`` in ``repo``; ``test_cmd`` turns on its test-and-fix loop (``--auto-test``)."""
    executable = _require("aider", cache_dir)
    window = context_window or server_context_window(base_url) or 8192
    metadata = _run_file(executable, json.dumps(model_metadata(model, window)))
    try:
        with CountingProxy(base_url) as proxy:
            command = aider_command(executable, task, proxy.base_url, model, metadata_file=metadata,
                                    edit_format=edit_format, test_cmd=test_cmd, map_tokens=map_tokens,
                                    request_timeout=timeout)
            settings = {"edit_format": edit_format, "map_tokens": map_tokens or "aider default (window/8)",
                        "context_window": window, "test_cmd": test_cmd}
            return _run_peer("aider", command, Path(repo), timeout, log_path, runner, proxy, settings)
    finally:
        metadata.unlink(missing_ok=True)


def run_mini_swe_agent(repo: Path, task: str, base_url: str, model: str, timeout: float, *,
                       log_path: Path | None = None, step_limit: int = 30, context_window: int | None = None,
                       runner: str = "auto", cache_dir: Path | None = None) -> PeerRun:
    """Run mini-swe-agent once on ``task`` in ``repo``."""
    executable = _require("mini-swe-agent", cache_dir)
    window = context_window or server_context_window(base_url) or 8192
    registry = _run_file(executable, json.dumps(model_metadata(model, window)))
    # By absolute path: a bare name is looked up in the working directory first, which is the task's repository.
    configs = sorted(executable.parent.parent.glob("lib/python*/site-packages/minisweagent/config/mini_textbased.yaml"))
    try:
        with CountingProxy(base_url) as proxy:
            command = mswea_command(executable, task, proxy.base_url, model,
                                    config=configs[0] if configs else "mini_textbased.yaml", step_limit=step_limit,
                                    wall_seconds=int(timeout), registry_file=registry)
            settings = {"config": "mini_textbased.yaml", "model_class": "litellm_textbased", "step_limit": step_limit}
            return _run_peer("mini-swe-agent", command, Path(repo), timeout, log_path, runner, proxy, settings)
    finally:
        registry.unlink(missing_ok=True)


def _spec(name: str) -> PeerSpec:
    try:
        return PEERS[name]
    except KeyError:
        raise PeerError(f"unknown peer {name!r}; known: {', '.join(PEERS)}") from None


def _require(name: str, cache_dir: Path | None) -> Path:
    executable = installed_peer(name, cache_dir)
    if executable is None:
        spec = _spec(name)
        raise PeerError(f"{spec.package}=={spec.version} is not installed; install it with "
                        f"python -c \"from locoder.bench.peers import ensure_peer; ensure_peer('{name}')\"")
    return executable


def _run_file(executable: Path, text: str) -> Path:
    """A file handed to a peer, kept in its own folder: the sandbox shows the peer's virtualenv read-only, while
    /tmp and the home folder are private to the command."""
    folder = executable.parent.parent / "runs"
    folder.mkdir(exist_ok=True)
    path = folder / f"{uuid.uuid4().hex[:12]}.json"
    path.write_text(text)
    return path


def peer_environment(command: PeerCommand, executable_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The peer's environment: the user's, less the peers' own settings, plus the command's variables. The
    peer's ``bin`` goes last on PATH: the sandbox then shows its virtualenv, while ``python`` and ``pytest`` in
    the commands the peer runs stay the user's, as they are for locoder."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(_PEER_ENV_PREFIXES)}
    env["PATH"] = os.pathsep.join(p for p in (env.get("PATH", ""), str(executable_dir)) if p)
    env.update(command.env)
    return env


def _run_peer(agent: str, command: PeerCommand, repo: Path, timeout: float, log_path: Path | None, runner: str,
              proxy: CountingProxy, settings: dict[str, object]) -> PeerRun:
    repo = Path(os.path.realpath(repo))
    base = git_head(repo, runner)
    env = peer_environment(command, Path(command.argv[0]).parent)
    # The peer works in a throwaway clone and uses git itself (aider writes .git/config and commits), so .git is
    # left writable to it; the rest of the sandbox (nothing outside the repository) stays.
    policy = SandboxPolicy(runner=runner, network=True, cpu_seconds=0, env_allow=tuple(command.env),
                           readonly_in_workspace=StatePaths.for_workspace(repo).readonly(git_writable=True))
    resolved = resolve_runner(policy)
    home = None
    if resolved == "plain":  # no private home from a runner: give the peer one, so no user config is read
        home = tempfile.mkdtemp(prefix=f"locoder-{agent}-home-")
        env["HOME"] = home
    try:
        result = Sandbox(repo, policy, env=env).run(shlex.join(command.argv), timeout=timeout,
                                                    max_output=MAX_LOG_BYTES)
    finally:
        if home:
            shutil.rmtree(home, ignore_errors=True)
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix=f"locoder-{agent}-", suffix=".log")[1])
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"$ {shlex.join(command.argv)}\n{result.output}\n[{result.status}]\n")
    totals = proxy.totals(settle=10.0)
    return PeerRun(agent=agent, exit_code=result.exit_code, timed_out=result.timed_out, seconds=result.seconds,
                   requests=totals.requests, prompt_tokens=totals.prompt_tokens,
                   completion_tokens=totals.completion_tokens, log_path=log_path,
                   changed=git_diff_stat(repo, base, runner), failed_requests=totals.failed, sandbox=resolved,
                   settings=settings, finish="timeout" if result.timed_out else peer_finish(agent, result.output),
                   estimated_requests=totals.estimated)


def peer_finish(agent: str, log: str) -> str:
    """Why a peer stopped, as its output says. mini-swe-agent prints ``Exit:`` and its exit status
    (``Submitted``, ``LimitsExceeded``, ``TimeExceeded``, ``RepeatedFormatError``, an exception's name);
    Aider says when its test-fix loop ran out of reflections, and otherwise just ends ("done")."""
    lines = [line.strip() for line in log.splitlines()]
    if agent == "mini-swe-agent":
        for i in range(len(lines) - 1, -1, -1):
            if lines[i] == "Exit:":
                return next((line for line in lines[i + 1:] if line), "unknown")
        return "unknown"
    if any(line.startswith("Only ") and line.endswith("reflections allowed, stopping.") for line in lines):
        return "reflections_exhausted"
    return "done"


# Git as the benchmark runs it, immune to the repository's configuration where flags allow; it runs in the
# sandbox (network off) as well, because an agent may have written filters into .git/config that git diff runs.
def _git(repo: Path, args: list[str], runner: str) -> tuple[int | None, str]:
    policy = SandboxPolicy(runner=runner, network=False, workspace_writable=False)
    command = shlex.join(gitsafe.argv(repo, args))
    result = Sandbox(repo, policy, env=gitsafe.env()).run(command, timeout=60, max_output=1 << 20)
    return result.exit_code, result.output


def git_head(repo: Path, runner: str = "auto") -> str | None:
    code, output = _git(repo, ["rev-parse", "--verify", "-q", "HEAD"], runner)
    head = output.strip()
    return head if code == 0 and len(head) in (40, 64) else None


def git_diff_stat(repo: Path, base: str | None, runner: str = "auto") -> str:
    """``git diff --stat`` of the working tree against ``base`` (or the index, in a repository without commits)."""
    code, output = _git(repo, ["diff", "--stat", *([base] if base else [])], runner)
    return output.strip() if code == 0 else f"[git diff failed: {output.strip()[:500]}]"
