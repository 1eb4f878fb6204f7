"""Keys given as flags (``--context7-api-key KEY``) must not stay readable in ``/proc/PID/cmdline``, which any
process of the same user can read (under Landlock without a pid namespace, model-run commands too).

``blank_secret_flags`` overwrites their values in this process's own argument memory, the bytes the kernel
shows as its command line, as early as the CLI starts; Python's ``sys.argv`` is a copy and keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

SECRET_FLAGS = ("--context7-api-key", "--api-key")


def secret_flag_values(argv: Sequence[str]) -> list[str]:
    """The values given to ``SECRET_FLAGS`` in ``argv`` (``--flag VALUE`` or ``--flag=VALUE``)."""
    values = []
    for i, arg in enumerate(argv):
        for flag in SECRET_FLAGS:
            if arg == flag and i + 1 < len(argv):
                values.append(argv[i + 1])
            elif arg.startswith(flag + "="):
                values.append(arg[len(flag) + 1:])
    return [v for v in values if v]


def blank_in_cmdline(values: Sequence[str]) -> bool:
    """Overwrite each of ``values`` with ``*`` in this process's command line as the kernel shows it; False
    where that memory cannot be written (not Linux, a hardened /proc)."""
    wanted = [v.encode() for v in values if v]
    if not wanted:
        return True
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        # fields[0] is the state (field 3 of proc(5)); arg_start and arg_end are fields 48 and 49.
        start, end = int(fields[45]), int(fields[46])
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            args = mem.read(end - start)
            blanked = args
            for value in wanted:
                blanked = blanked.replace(value, b"*" * len(value))
            if blanked != args:
                mem.seek(start)
                mem.write(blanked)
    except (OSError, ValueError, IndexError):
        return False
    return True


def blank_secret_flags(argv: Sequence[str]) -> bool:
    """``blank_in_cmdline`` for the values of the secret flags in ``argv``."""
    return blank_in_cmdline(secret_flag_values(argv))
