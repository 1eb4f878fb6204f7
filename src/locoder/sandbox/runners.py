"""Building the command line that confines a command: a pids cgroup, resource limits, and a runner
(bubblewrap, or Landlock where bubblewrap cannot run).

Pure where it can be: ``confined_argv`` only builds a list; ``Sandbox`` runs it and cleans up.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from locoder.sandbox.local import CommandResult, run_argv
from locoder.sandbox.policy import SandboxPolicy
from locoder.sandbox.watch import DiskWatch

CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


_BWRAP_WORKS: dict[str, bool] = {}


def bubblewrap_works() -> bool:
    """Whether bwrap is installed and can make its namespaces here (some kernels forbid user namespaces)."""
    path = bubblewrap()
    if path is None:
        return False
    if path not in _BWRAP_WORKS:
        import subprocess

        try:
            probe = subprocess.run([path, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "true"],
                                   capture_output=True, timeout=10)
            _BWRAP_WORKS[path] = probe.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_WORKS[path] = False
    return _BWRAP_WORKS[path]


def resolve_runner(policy: SandboxPolicy) -> str:
    """``auto`` becomes bubblewrap where it works, else Landlock where the kernel has it, else plain."""
    if policy.runner == "auto":
        from locoder.sandbox import landlock

        if bubblewrap_works():
            return "bubblewrap"
        return "landlock" if landlock.abi() >= 1 else "plain"
    return policy.runner


def pids_cgroup_root() -> Path | None:
    """A cgroup folder where a child group with ``pids.max`` can be made (v1 pids hierarchy or v2)."""
    for root in CGROUP_ROOTS:
        controls = root / "cgroup.controllers"
        is_v1 = root.name == "pids" and (root / "tasks").exists()
        is_v2 = controls.is_file() and "pids" in controls.read_text().split()
        if (is_v1 or is_v2) and os.access(root, os.W_OK):
            return root
    return None


def limit_argv(policy: SandboxPolicy, use_nproc: bool) -> list[str]:
    prlimit = shutil.which("prlimit")
    if not prlimit:
        return []
    argv = [prlimit]
    if policy.cpu_seconds:
        argv.append(f"--cpu={policy.cpu_seconds}")
    if policy.memory_mb:
        argv.append(f"--as={policy.memory_mb << 20}")
    if policy.file_size_mb:
        argv.append(f"--fsize={policy.file_size_mb << 20}")
    if use_nproc and policy.max_processes:
        argv.append(f"--nproc={policy.max_processes}")
    return [*argv, "--"] if len(argv) > 1 else []


def toolchain_paths(hidden: list[Path], env_path: str) -> list[Path]:
    """Folders under hidden paths that commands still need, read-only: PATH entries (a version
    manager's ``shims`` folder brings its whole root, as pyenv, rbenv and asdf need; a virtualenv's
    ``bin`` brings the virtualenv, whose scripts need its ``lib``) and the real prefixes of locoder's
    own Python."""
    import sys

    candidates = [Path(p) for p in env_path.split(os.pathsep) if p]
    candidates += [Path(os.path.realpath(sys.base_prefix)), Path(os.path.realpath(sys.prefix))]
    exposed: list[Path] = []
    for path in candidates:
        if path.name == "shims" or (path.name == "bin" and (path.parent / "pyvenv.cfg").is_file()):
            path = path.parent
        if path.is_dir() and any(h == path or h in path.parents for h in hidden) and path not in exposed:
            exposed.append(path)
    exposed.sort(key=lambda p: len(p.parts))
    return [p for p in exposed if not any(q in p.parents for q in exposed)]


def _sized(policy: SandboxPolicy) -> list[str]:
    """bubblewrap's ``--size`` for the next tmpfs: each scratch folder holds at most ``disk_mb``."""
    return ["--size", str(policy.disk_mb << 20)] if policy.disk_mb else []


def bwrap_argv(policy: SandboxPolicy, workspace: Path, env_path: str = "", seccomp_fd: int | None = None) -> list[str]:
    ws = str(workspace)
    # --disable-userns: no nested user namespace, so no way to remount the read-only views.
    argv = [bubblewrap() or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/", "/", "--dev", "/dev", *_sized(policy), "--tmpfs", "/dev/shm", "--proc", "/proc",
            *_sized(policy), "--tmpfs", "/tmp"]
    # /run holds host services' sockets (dbus, databases, agents): commands get an empty one.
    if Path("/run").is_dir() and not Path("/run").is_symlink():
        argv += [*_sized(policy), "--tmpfs", "/run"]
        resolver = Path("/run/systemd/resolve")
        if policy.network and resolver.is_dir():
            argv += ["--ro-bind", str(resolver), str(resolver)]  # /etc/resolv.conf often points there
    if policy.network:
        argv.append("--share-net")
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    hidden: list[Path] = []
    for path in hidden_paths(policy):
        if not path.exists() or workspace == path:
            continue
        hidden.append(path)
        argv += ["--ro-bind", "/dev/null", str(path)] if path.is_file() else [*_sized(policy), "--tmpfs", str(path)]
    # /tmp is private to commands too: a Python or venv living there must come back as well.
    for path in toolchain_paths([*hidden, Path("/tmp")], env_path or os.environ.get("PATH", "")):
        argv += ["--ro-bind", str(path), str(path)]
    # Bound after the hidden folders, so a workspace inside a hidden home comes back on top.
    argv += ["--bind" if policy.workspace_writable else "--ro-bind", ws, ws]
    for inner in policy.readonly_in_workspace:
        path = workspace / inner
        if path.exists():
            argv += ["--ro-bind", str(path), str(path)]
    return [*argv, "--chdir", ws, "--"]


def hidden_paths(policy: SandboxPolicy) -> list[Path]:
    return [Path(os.path.expanduser(name)) for name in policy.hidden_paths]


NAMESPACES = True
"""Whether the Landlock launcher may put commands in a mount and pid namespace of their own (tests turn it off
to check the subreaper alone)."""
_NAMESPACES_WORK: list[bool] = []


def landlock_namespaces() -> bool:
    """Whether a mount and pid namespace can be made here without a user namespace (root, or CAP_SYS_ADMIN),
    so the Landlock launcher can give commands a private /dev/shm and /proc. Probed once, in a child."""
    if not NAMESPACES:
        return False
    if not _NAMESPACES_WORK:
        import subprocess
        import sys

        # In a child process of its own: forking this (threaded) process to try it would not be safe.
        probe = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x00020000 | 0x20000000) != 0)"
        try:
            ok = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True,
                                timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _NAMESPACES_WORK.append(ok)
    return _NAMESPACES_WORK[0]


def landlock_argv(policy: SandboxPolicy, workspace: Path, scratch: Path, env_path: str = "",
                  seccomp_fd: int | None = None) -> list[str]:
    """The launcher that applies Landlock rules, then runs the command. /tmp is hidden as under bubblewrap;
    the command gets ``scratch`` instead."""
    import sys

    from locoder.sandbox import landlock

    hidden = [p for p in [*hidden_paths(policy), Path("/tmp")] if p.exists() and p != workspace]
    exposed = toolchain_paths(hidden, env_path or os.environ.get("PATH", ""))
    namespaces = landlock_namespaces()
    spec = landlock.landlock_spec(
        version=landlock.abi(), workspace=str(workspace), writable=policy.workspace_writable,
        network=policy.network, hidden=[str(p) for p in hidden], exposed=[str(p) for p in exposed],
        scratch=str(scratch), private_shm=namespaces, unix_sockets=policy.unix_sockets)
    options = [f"--seccomp={seccomp_fd}"] if seccomp_fd is not None else []
    if namespaces:
        options += ["--namespaces", f"--shm={policy.disk_mb << 20}"]
        # /run holds host services' sockets; with the network on, /etc/resolv.conf may point into it.
        options += [] if policy.network else ["--private-run"]
    return [sys.executable, "-I", "-S", "-B", landlock.__file__, *options, *landlock.spec_args(spec), "--"]


def seccomp_fd(policy: SandboxPolicy) -> int | None:
    """A file descriptor holding the seccomp filter for ``policy`` (read from its start), or None on machines
    with no filter (neither x86-64 nor aarch64)."""
    from locoder.sandbox import seccomp

    if not seccomp.supported():
        return None
    try:
        fd = os.memfd_create("locoder-seccomp", 0)  # not close-on-exec: the runner reads it
    except (AttributeError, OSError):
        import tempfile

        with tempfile.TemporaryFile() as handle:  # a kernel without memfd: an unlinked file does as well
            fd = os.dup(handle.fileno())
    os.write(fd, seccomp.filter_bytes(unix_sockets=policy.unix_sockets))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@dataclass
class Confinement:
    argv: list[str]
    cgroup: Path | None
    scratch: Path | None = None
    """A private folder for the command (its HOME and TMPDIR), removed after it ends."""
    env: dict[str, str] | None = None
    """Variables the runner sets for the command."""
    fds: tuple[int, ...] = ()
    """File descriptors the runner reads (the seccomp filter): passed to the command's process, closed after."""
    grace: float = 0.0
    """Seconds the runner's supervisor gets to kill what the command left behind, before its group is killed."""


def confine(policy: SandboxPolicy, workspace: Path, command: str, env_path: str = "") -> Confinement:
    """The argv that runs ``command`` under ``policy``, the cgroup made for it (if any), and the
    scratch folder and variables a Landlock runner gives it."""
    cgroup = None
    root = pids_cgroup_root() if policy.max_processes else None
    if root is not None:
        cgroup = root / f"locoder-{uuid.uuid4().hex[:12]}"
        try:
            cgroup.mkdir()
            (cgroup / "pids.max").write_text(str(policy.max_processes))
        except OSError:
            cgroup = None
    argv: list[str] = []
    if cgroup is not None:
        # The shell joins the group, then becomes the confined command: nothing runs outside it.
        argv += ["bash", "-c", f'echo $$ > "{cgroup}/cgroup.procs" && exec "$@"', "locoder-sandbox"]
    argv += limit_argv(policy, use_nproc=cgroup is None)
    runner = resolve_runner(policy)
    scratch, env, fds, grace = None, None, (), 0.0
    if runner == "bubblewrap":
        fd = seccomp_fd(policy)
        fds = () if fd is None else (fd,)
        argv += bwrap_argv(policy, workspace, env_path, fd)
    elif runner == "landlock":
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="locoder-cmd-"))
        (scratch / "home").mkdir()
        (scratch / "tmp").mkdir()
        env = {"HOME": str(scratch / "home"), "TMPDIR": str(scratch / "tmp")}
        fd = seccomp_fd(policy)
        fds = () if fd is None else (fd,)
        argv += landlock_argv(policy, workspace, scratch, env_path, fd)
        grace = 2.0
    argv += ["bash", "-c", command]
    return Confinement(argv, cgroup, scratch, env, fds, grace)


def reap_cgroup(cgroup: Path) -> None:
    """Kill whatever is left in the command's group (background jobs, setsid escapees), then remove it."""
    for attempt in range(200):
        try:
            pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.001 if attempt < 20 else 0.02)  # killed processes usually leave within a millisecond
    try:
        cgroup.rmdir()
    except OSError:
        pass


class Sandbox:
    """Runs commands for the tools under one policy, in one workspace."""

    def __init__(self, workspace: Path, policy: SandboxPolicy, env: dict[str, str] | None = None) -> None:
        from locoder.safety.secrets import filter_env

        self.workspace = Path(os.path.realpath(workspace))
        self.policy = policy
        # Commands never see API keys and tokens, unless the user allowed a variable by name.
        self.env = filter_env(os.environ if env is None else env, allow=policy.env_allow)

    def run(self, command: str, *, timeout: float, max_output: int) -> CommandResult:
        confinement = confine(self.policy, self.workspace, command, (self.env or os.environ).get("PATH", ""))
        env = self.env
        if confinement.env:
            env = {**(os.environ if env is None else env), **confinement.env}
        watch = None
        if self.policy.disk_mb:
            roots = [self.workspace] + ([confinement.scratch] if confinement.scratch else [])
            watch = DiskWatch(roots, self.policy.disk_mb << 20)
        try:
            return run_argv(confinement.argv, self.workspace, timeout=timeout, max_output=max_output, env=env,
                            pass_fds=confinement.fds, grace=confinement.grace, watch=watch)
        finally:
            for fd in confinement.fds:
                os.close(fd)
            if confinement.cgroup is not None:
                reap_cgroup(confinement.cgroup)
            if confinement.scratch is not None:
                shutil.rmtree(confinement.scratch, ignore_errors=True)

    def describe(self) -> dict[str, object]:
        """Which protections are active on this machine, for ``locoder doctor`` and the audit log: what each
        runner contains and, marked NOT, what it does not (the README's Safety section says the same)."""
        from locoder.sandbox import landlock, seccomp

        runner = resolve_runner(self.policy)
        root = pids_cgroup_root()
        version = landlock.abi()
        namespaces = runner == "landlock" and landlock_namespaces()
        filesystem = {
            "bubblewrap": "read-only outside the workspace and in "
                          + (", ".join(self.policy.readonly_in_workspace) or "nothing inside it")
                          + "; home, /root, /tmp and secrets hidden; private /run, /dev/shm and /proc",
            "landlock": "writes only in the workspace and a private scratch folder; home, /root, /tmp and secrets"
                        " unreadable; " + ("private /dev/shm, /proc and /run (own mount and pid namespace)"
                                           if namespaces else "host /dev/shm hidden; NOT private: /proc (other"
                                           " processes' command lines are visible)")
                        + "; NOT covered: " + (", ".join(self.policy.readonly_in_workspace) or "nothing")
                        + " inside the workspace, chmod/chown/timestamps",
        }.get(runner, "NOT confined: commands can change anything your user can")
        network = "on" if self.policy.network else {
            "bubblewrap": "off", "landlock": "TCP off; NOT covered: UDP" if version >= 4 else "NOT confined",
        }.get(runner, "NOT confined")
        if runner == "plain":
            sockets = "NOT confined"
        elif not seccomp.supported():
            sockets = "NOT confined: no seccomp filter for this machine (x86-64 and aarch64 only)"
        elif self.policy.unix_sockets:
            sockets = ("allowed (unix_sockets = true): host services on pathname sockets in visible folders"
                       " (e.g. /var/tmp) are reachable; io_uring refused")
        else:
            sockets = "refused (seccomp: no AF_UNIX sockets, no io_uring)" + (
                "; abstract sockets scoped" if runner == "landlock" and version >= 6 else "")
        if runner == "landlock":
            leftover = "pid namespace, killed with its pid 1" if namespaces else "subreaper launcher kills them"
            if not namespaces and version < 6:
                leftover += " (NOT protected from the command killing the launcher: Landlock ABI < 6)"
        elif runner == "bubblewrap":
            leftover = "pid namespace, killed with bubblewrap's pid 1"
        elif root:
            leftover = "killed with the command's process group"
        else:
            leftover = "killed with the command's process group; NOT caught: setsid and double-forked processes"
        return {
            "runner": runner,
            "bubblewrap": (bubblewrap() or "not installed") + ("" if not bubblewrap() or bubblewrap_works()
                                                               else " (cannot make namespaces here)"),
            "landlock": f"ABI {version}" if version else "not available",
            "filesystem": filesystem,
            "network": network,
            "unix_sockets": sockets,
            "process_limit": f"pids cgroup under {root}" if root else
            ("RLIMIT_NPROC (not enforced for root)" if shutil.which("prlimit") else "none"),
            "resource_limits": "prlimit (cpu, memory, file size)" if shutil.which("prlimit") else "none",
            "disk": f"{self.policy.disk_mb} MiB per command (workspace growth watched" + (
                ", scratch tmpfs sized)" if runner == "bubblewrap" else ")") if self.policy.disk_mb else "NOT capped",
            "leftover_processes": leftover + (", and the pids cgroup" if root and runner != "plain" else ""),
            "environment": "secret-looking variables removed" + (
                f" (allowed: {', '.join(self.policy.env_allow)})" if self.policy.env_allow else ""),
        }


def available_runners() -> list[str]:
    """The runners that can confine commands on this machine, best first."""
    from locoder.sandbox import landlock

    return [name for name, ok in (("bubblewrap", bubblewrap_works()), ("landlock", landlock.abi() >= 1)) if ok]


def describe_runners(workspace: Path, policy: SandboxPolicy) -> dict[str, dict[str, object]]:
    """``Sandbox.describe`` for each runner that works here (and plain), as ``locoder doctor`` lists them."""
    from dataclasses import replace

    return {name: Sandbox(workspace, replace(policy, runner=name)).describe()
            for name in [*available_runners(), "plain"]}
