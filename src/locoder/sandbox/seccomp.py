"""A seccomp filter, built here as classic BPF with nothing but ``struct``: what neither bubblewrap nor
Landlock refuses on their own.

- ``socket(AF_UNIX, ...)`` fails with EACCES (unless unix sockets are allowed): a pathname socket of a
  host service (a tmux server, a database, an agent under ``/run`` or ``/var/tmp``) is reachable through any
  folder a command can see, and no file-system rule stops ``connect``, whose address seccomp cannot read.
  ``socketpair`` stays: its two ends are already connected to each other and reach nothing else.
- ``io_uring_setup``, ``io_uring_enter`` and ``io_uring_register`` fail with EPERM, always: io_uring
  performs socket and file operations without the system calls this filter sees.
- System calls of another ABI (i386 through ``int 0x80``, x32) fail with EPERM, so none of the above can
  be reached through a second syscall table.

``filter_bytes`` gives the program as bubblewrap's ``--seccomp FD`` reads it; ``install`` loads it into the
calling process (the Landlock launcher does, just before it becomes the command). The launcher imports this
file by path, so it imports nothing from locoder.
"""

from __future__ import annotations

import struct

AF_UNIX = 1
EACCES, EPERM = 13, 1

# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args[0]'s low half (little-endian)
_IO_URING = (425, 426, 427)  # the same on every architecture (the unified syscall table)
ARCHES = {
    # machine: (AUDIT_ARCH_*, socket's number, lowest number that is not this ABI's own)
    "x86_64": (0xC000003E, 41, 0x40000000),  # x32 calls have bit 30 set
    "aarch64": (0xC00000B7, 198, 0xFFFFFFFF),
}
ARCHES["amd64"] = ARCHES["x86_64"]
ARCHES["arm64"] = ARCHES["aarch64"]


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _machine() -> str:
    import os

    return os.uname().machine


def supported(machine: str | None = None) -> bool:
    return (machine or _machine()).lower() in ARCHES


def filter_bytes(*, unix_sockets: bool = False, machine: str | None = None) -> bytes:
    """The filter program for ``machine`` (default: this one); ValueError where there is none."""
    name = (machine or _machine()).lower()
    if name not in ARCHES:
        raise ValueError(f"no seccomp filter for {name} (x86-64 and aarch64 only)")
    audit_arch, socket_nr, foreign = ARCHES[name]
    deny_perm = _op(_RET_K, _RET_ERRNO | EPERM)
    allow = _op(_RET_K, _RET_ALLOW)
    body = [_op(_LD_W_ABS, _OFF_NR)]
    for nr in _IO_URING:
        body += [_op(_JEQ_K, nr, 0, 1), deny_perm]
    if not unix_sockets:
        # if nr == socket: if args[0] == AF_UNIX: EACCES
        body += [_op(_JEQ_K, socket_nr, 0, 3), _op(_LD_W_ABS, _OFF_ARG0), _op(_JEQ_K, AF_UNIX, 0, 1),
                 _op(_RET_K, _RET_ERRNO | EACCES), _op(_LD_W_ABS, _OFF_NR)]
    body += [_op(_JGE_K, foreign, 0, 1), deny_perm, allow]
    head = [_op(_LD_W_ABS, _OFF_ARCH), _op(_JEQ_K, audit_arch, 1, 0), deny_perm]
    return b"".join(head + body)


def install(program: bytes) -> None:
    """Load ``program`` into this process (no_new_privs must already be set); OSError when the kernel refuses."""
    import ctypes
    import os

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_seccomp, seccomp_mode_filter = 22, 2
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
