from locoder.sandbox.local import CommandResult, run_argv, run_command
from locoder.sandbox.policy import SandboxPolicy
from locoder.sandbox.runners import Sandbox

__all__ = ["CommandResult", "Sandbox", "SandboxPolicy", "run_argv", "run_command"]
