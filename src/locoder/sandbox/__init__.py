from locoder.sandbox.local import CommandResult, run_command

__all__ = ["CommandResult", "run_command"]
