"""What a model-run command may do. One object, every field documented, shown by ``locoder doctor``."""

from __future__ import annotations

from dataclasses import dataclass, field

from locoder.locations import DEFAULT_READONLY


@dataclass(frozen=True)
class SandboxPolicy:
    runner: str = "auto"
    """``auto`` (bubblewrap where it works, else Landlock where the kernel has it, else plain), ``bubblewrap``,
    ``landlock``, or ``plain`` (no confinement)."""
    workspace_writable: bool = True
    """False (read-only sessions): commands see the workspace read-only too."""
    network: bool = False
    """Let commands reach the network (package installs need it)."""
    cpu_seconds: int = 600
    """CPU time a command may use (RLIMIT_CPU); 0: no limit."""
    memory_mb: int = 8192
    """Address space of each process (RLIMIT_AS), in MiB; 0: no limit."""
    max_processes: int = 256
    """Processes a command may have at once (a pids cgroup where writable, else RLIMIT_NPROC)."""
    file_size_mb: int = 1024
    """Largest file a command may write (RLIMIT_FSIZE), in MiB; 0: no limit."""
    disk_mb: int = 4096
    """Disk a command may fill in all (the workspace's growth and its scratch folders; bubblewrap's private
    /tmp, /run and /dev/shm are each a tmpfs of this size), in MiB; past it the command is stopped. 0: no cap.
    Raising it widens what commands may do."""
    unix_sockets: bool = False
    """Let commands create unix sockets (multiprocessing's forkserver and managers, some test servers need
    them). Off: ``socket(AF_UNIX)`` is refused, so host services listening on pathname sockets (tmux, databases,
    agents under /run or /var/tmp) cannot be reached. WIDENS what commands may do."""
    hidden_paths: tuple[str, ...] = ("~", "/root", "/home", "/etc/shadow", "/etc/gshadow", "/etc/sudoers")
    """Hidden from commands: empty under bubblewrap (/dev/null for files), unreadable under Landlock; the
    workspace stays."""
    readonly_in_workspace: tuple[str, ...] = DEFAULT_READONLY
    """Inside the workspace but read-only to commands (bubblewrap; Landlock cannot): locoder's own state and
    audit log, the project's configuration, and the git folder (hooks and config git would run later). The
    agent's sandbox takes it from ``StatePaths.readonly``, so a state folder of another name is covered too."""
    env_allow: tuple[str, ...] = field(default_factory=tuple)
    """Secret-looking environment variables passed to commands anyway, by exact name."""
