"""Landlock: the kernel's unprivileged file-system and network confinement, the fallback when bubblewrap
is missing or cannot make namespaces.

This file is two things. Imported, it answers which Landlock ABI the kernel offers (``abi()``) and builds
the rule set for a policy (``landlock_spec``) and the arguments that carry it (``spec_args``). Run as a
script (``python -I -S landlock.py [--seccomp=FD] [--namespaces] [--shm=BYTES] [--private-run] ABI FS NET SCOPED
RIGHTS=PATH... -- ARGV``), it becomes a child subreaper and forks; the child (in its own mount and pid
namespace with ``--namespaces``: a private /dev/shm and /proc) applies that rule set to itself, drops
capabilities, loads the seccomp filter read from FD (``seccomp.py``) and becomes ``ARGV``; every process
ARGV starts is bound by the same rules. The parent, outside the rules, waits for the child, then kills
everything left below it (setsid, nohup and double-forked processes are reparented to it), and exits
as the child did; SIGTERM makes it stop the command first. The script part imports nothing from locoder
(nor json or re), so it starts in milliseconds.

What Landlock can and cannot do, compared with bubblewrap:

- File contents: reads are granted by folder, so hidden folders (home, /root, /tmp, /etc/shadow) are
  unreadable (EACCES) rather than empty; writes are allowed only in the workspace, a per-command scratch
  folder (``HOME`` and ``TMPDIR`` point there), a few devices (/dev/null, ...) and a private /dev/shm
  (hidden instead where no mount namespace can be made).
- Rights granted to a folder cover everything below it, so ``.locoder`` inside the workspace cannot be
  made read-only, and Landlock does not cover metadata: ``chmod``, ``chown`` and timestamps of a file the
  user owns still change.
- Network: TCP connect and bind are refused (ABI 4+); UDP and raw sockets are not covered.
- ABI 6+: signals and abstract unix sockets cannot reach processes outside the command (and so the
  command cannot kill the supervising parent); pathname unix sockets are refused by the seccomp filter.
- Mounting, ``ptrace`` and ``/proc/PID/environ`` of processes outside the command are refused.
"""

from __future__ import annotations

import ctypes
import os
import sys

# Syscall numbers are the same on every architecture (the unified syscall table).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
"""The rights a rule on a file (not a folder) may carry."""
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/pts")


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


_ABI: int | None = None


def abi() -> int:
    """The Landlock ABI version the running kernel offers; 0 when it has none (or it is disabled)."""
    global _ABI
    if _ABI is None:
        if not sys.platform.startswith("linux"):
            _ABI = 0
        else:
            try:
                version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                                          ctypes.c_uint32(CREATE_RULESET_VERSION))
            except (OSError, AttributeError):
                version = -1
            _ABI = max(int(version), 0)
    return _ABI


def fs_rights(version: int) -> int:
    """Every file-system right this ABI can restrict (device ioctls are left alone)."""
    rights = (1 << 13) - 1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    return rights


def carve(root: str, hidden: list[str]) -> list[str]:
    """The folders and files that together cover ``root`` except the ``hidden`` paths: ``root`` itself
    when nothing hidden is inside it, else its entries, carved in turn. Symbolic links are left out (what
    they point to is covered, or not, where it really lives)."""
    if root in hidden:
        return []
    prefix = root.rstrip("/") + "/"
    if not any(h.startswith(prefix) for h in hidden):
        return [root]
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    out: list[str] = []
    for name in names:
        path = prefix + name
        if not os.path.islink(path):
            out += carve(path, hidden)
    return out


def landlock_spec(*, version: int, workspace: str, writable: bool, network: bool, hidden: list[str],
                  exposed: list[str], scratch: str, private_shm: bool = True, unix_sockets: bool = False) -> dict:
    """The rule set for one command: what the script part applies. Pure but for reading folder listings.
    ``private_shm``: the launcher mounts a private /dev/shm (in its own mount namespace), so it may be
    writable; else the host's /dev/shm is hidden."""
    rights = fs_rights(version)
    hidden = sorted({os.path.realpath(h) for h in [*hidden, *([] if private_shm else ["/dev/shm"])]})
    rules: list[tuple[str, int]] = [(p, READ) for p in carve("/", hidden)]
    rules += [(p, READ) for p in exposed]
    rules += [(d, READ | WRITE_FILE | (TRUNCATE & rights)) for d in DEVICES]
    rules += [("/dev/shm", rights)] if private_shm else []
    rules += [(scratch, rights), (workspace, rights if writable else READ)]
    scoped = 0
    if version >= 6:
        scoped = SCOPE_SIGNAL | (0 if network or unix_sockets else SCOPE_ABSTRACT_UNIX_SOCKET)
    return {"fs": rights, "net": (NET_BIND_TCP | NET_CONNECT_TCP) if version >= 4 and not network else 0,
            "scoped": scoped, "abi": version, "rules": rules}


def spec_args(spec: dict) -> list[str]:
    """The launcher's arguments for ``spec``: ABI FS NET SCOPED, then a RIGHTS=PATH argument per rule."""
    head = [str(spec[key]) for key in ("abi", "fs", "net", "scoped")]
    return head + [f"{rights}={path}" for path, rights in spec["rules"]]


def parse_args(args: list[str]) -> dict:
    version, fs, net, scoped = (int(a) for a in args[:4])
    rules = []
    for arg in args[4:]:
        rights, _, path = arg.partition("=")
        rules.append((path, int(rights)))
    return {"abi": version, "fs": fs, "net": net, "scoped": scoped, "rules": rules}


def _apply(spec: dict) -> None:
    libc = _libc()

    def check(result: int, what: str) -> int:
        if result < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return result

    version = spec["abi"]
    attr = RulesetAttr(spec["fs"], spec["net"], spec["scoped"])
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = check(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                 ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path, allowed in spec["rules"]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path that is gone grants nothing
            try:
                if not os.path.isdir(path):
                    allowed &= FILE_ONLY
                rule = PathBeneathAttr(allowed & spec["fs"], fd)
                check(libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0),
                      f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    # Like bubblewrap's --cap-drop ALL: a command started by root keeps no capability across exec.
    if os.geteuid() == 0:
        cap = 0
        while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
            cap += 1
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_CHILD_SUBREAPER = 36


def _private_mounts(libc: ctypes.CDLL, shm_bytes: int, run: bool) -> None:
    """In a mount namespace of the command's own: a private /dev/shm, a /proc that shows only the
    command's processes (it is pid 1 of its own pid namespace), and with ``run`` an empty /run."""
    def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                      data.encode() if data else None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(mount namespace): {os.strerror(err)}")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    size = f",size={shm_bytes}" if shm_bytes else ""
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" + size)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if run and os.path.isdir("/run") and not os.path.islink("/run"):
        mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")


def _confine_and_exec(command: list[str], spec: dict, options: dict) -> None:
    """The rules, the seccomp filter, then the command."""
    program = b""
    if "seccomp" in options:
        with os.fdopen(int(options["seccomp"]), "rb") as handle:
            program = handle.read()
    _apply(spec)
    if program:
        # seccomp.py beside this file, run as source: importlib would cost more than the rest of the launcher.
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp.py")
        with open(here, encoding="utf-8") as handle:
            module: dict = {"__name__": "locoder_sandbox_seccomp"}
            exec(compile(handle.read(), here, "exec"), module)
        module["install"](program)
    os.execvp(command[0], command)


def _init(command: list[str], spec: dict, options: dict, report: int) -> None:
    """Pid 1 of the command's pid namespace: private mounts, then the command as its child; it reaps orphans,
    and when the command ends it writes the command's wait status to ``report`` and exits, which makes the
    kernel kill everything left in the namespace. (The command is not pid 1 itself: pid 1 ignores signals
    such as SIGXFSZ and SIGXCPU, which the resource limits rely on.)"""
    _private_mounts(_libc(), int(options.get("shm", 0)), "private-run" in options)
    pid = os.fork()
    if pid == 0:
        os.close(report)
        try:
            _confine_and_exec(command, spec, options)
        except (OSError, ValueError) as exc:
            print(f"locoder sandbox: Landlock could not confine the command: {exc}", file=sys.stderr)
            os._exit(126)
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if done == pid:
            os.write(report, status.to_bytes(4, "little"))
            os._exit(0)


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        pass
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == me:
                found.append(int(name))
    return found


def sweep() -> None:
    """Kill every process left below this one (a subreaper: orphans of the command, setsid and double-forked
    ones included, became its children) until none is left."""
    import time

    idle = 0
    while True:
        kids = _children()
        for pid in kids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        reaped = False
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                reaped = True
        except ChildProcessError:
            return
        if not kids and not reaped:
            idle += 1
            time.sleep(0.001 if idle < 50 else 0.01)


def _wait_for(pid: int) -> int:
    """Reap children (orphans included) until ``pid`` ends; its wait status."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        if done == pid:
            return status


def supervise(command: list[str], spec: dict, options: dict) -> int:
    """Start the confined command as a child, wait for it, kill what it left behind, and end as it ended.
    This process stays outside the rules (the command cannot signal it where Landlock scopes signals)."""
    import signal

    libc = _libc()
    if options.get("namespaces") and libc.unshare(CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(pid namespace): {os.strerror(err)}")
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    report = os.pipe() if options.get("namespaces") else None
    pid = os.fork()
    if pid == 0:
        try:
            if report is not None:
                os.close(report[0])
                _init(command, spec, options, report[1])
            _confine_and_exec(command, spec, options)
        except (OSError, ValueError) as exc:
            print(f"locoder sandbox: Landlock could not confine the command: {exc}", file=sys.stderr)
            os._exit(126)
        os._exit(127)
    if report is not None:
        os.close(report[1])

    def stop(signum: int, frame: object) -> None:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), stop)
    status = _wait_for(pid)
    sweep()
    if report is not None:
        reported = os.read(report[0], 4)
        os.close(report[0])
        if len(reported) == 4 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            status = int.from_bytes(reported, "little")
    return _end_as(status)


def _end_as(status: int) -> int:
    """Exit as a process with wait status ``status`` did: by the same signal, or with the same code."""
    import signal

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def main(argv: list[str]) -> int:
    options = {}
    while argv and argv[0].startswith("--") and argv[0] != "--":
        key, _, value = argv[0][2:].partition("=")
        options[key] = value or "1"
        argv = argv[1:]
    split = argv.index("--") if "--" in argv else -1
    if split < 4 or split == len(argv) - 1:
        print("usage: landlock.py [--seccomp=FD] [--namespaces] [--shm=BYTES] [--private-run]"
              " ABI FS NET SCOPED [RIGHTS=PATH...] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    spec, command = argv[:split], argv[split + 1:]
    import signal

    # Python ignores these; an ignored signal stays ignored across exec, so put back what commands expect.
    for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        return supervise(command, parse_args(spec), options)
    except (OSError, ValueError) as exc:
        # Never fall back to running the command unconfined.
        print(f"locoder sandbox: Landlock could not confine the command: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
