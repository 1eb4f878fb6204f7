"""What this machine offers locoder (``locoder doctor``): the command sandbox the settings give and the runners
not chosen, which backends and tools are installed, which models are on disk. Data only; the CLI prints it."""

from __future__ import annotations

import importlib.util
import platform
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from locoder.agent.factory import build_sandbox
from locoder.config import Settings

# What is shown of a runner that is not the active one.
OTHER_RUNNER_KEYS = ("filesystem", "network", "unix_sockets", "leftover_processes")


@dataclass
class MachineReport:
    system: str  # "Linux 6.8.0"
    python: str
    workspace: Path
    sandbox: dict  # the active runner's description (Sandbox.describe)
    other_runners: dict[str, dict]  # runner -> the OTHER_RUNNER_KEYS of its description
    backends: dict[str, bool]  # name -> installed
    models: dict[str, str]  # catalog name -> its status in the model store


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def machine_report(settings: Settings) -> MachineReport:
    """Probe the machine for ``settings`` (their sandbox, their models folder)."""
    from locoder.models.installer import CATALOG, ModelStore
    from locoder.sandbox.runners import describe_runners

    active = build_sandbox(settings)
    sandbox = active.describe()
    others = {runner: {key: described[key] for key in OTHER_RUNNER_KEYS}
              for runner, described in describe_runners(active.workspace, replace(active.policy, runner="auto")).items()
              if runner != sandbox["runner"]}
    backends = {"embedded runtime": _installed("xllamacpp"), "transformers": _installed("transformers", "torch"),
                "bitsandbytes": _installed("bitsandbytes"), "ripgrep": shutil.which("rg") is not None}
    store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
    return MachineReport(f"{platform.system()} {platform.release()}", platform.python_version(),
                         settings.workspace_path, sandbox, others, backends,
                         {name: store.status(name) for name in CATALOG})
