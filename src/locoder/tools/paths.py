"""Path confinement, in one place: every path a tool reads or writes is checked and opened here.

- ``resolve_in_workspace``: the path with symlinks resolved; anything outside the workspace is refused.
- ``check_readable`` / ``check_writable``: also refuse secret files (by the name given and the name it resolves
  to, so a symlink to ``.env`` is refused too), and, for writes, locoder's state folder, the project
  configuration and ``.git`` internals (``ToolContext.protected``), and paths ending in ``/``.
- ``read_beneath`` / ``write_beneath``: open the resolved path one component at a time from a descriptor of
  the workspace with ``O_NOFOLLOW``, so a folder swapped for a symlink between the check and the open (a
  process the model left running) makes the call fail instead of landing outside. Writes go to a temporary
  file in the same folder descriptor and are renamed into place.
- ``open_confined``: for walkers (grep's Python fallback, the log digest): opens a file and keeps it only when
  the opened descriptor is a regular file inside the workspace and not secret (links staying inside are fine).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from locoder.atomic import new_file_mode
from locoder.exceptions import ToolError
from locoder.locations import DEFAULT_READONLY
from locoder.safety.secret_files import SECRET_FILES, is_secret_file

PROTECTED = DEFAULT_READONLY
"""Default for ``check_writable``: what file tools may never write (relative to the workspace) when
the state folder has its default name; ``StatePaths.protected`` gives it for any other."""

__all__ = ["PROTECTED", "SECRET_FILES", "check_readable", "check_writable", "display", "is_secret_file",
           "open_confined", "read_beneath", "resolve_in_workspace", "write_beneath"]


def _root(workspace: Path) -> Path:
    return Path(os.path.realpath(workspace))


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve ``path`` (relative to the workspace, or absolute) and refuse anything outside it."""
    if not path or "\x00" in path:
        raise ToolError("a path is required")
    root = _root(workspace)
    try:
        candidate = Path(os.path.realpath(root / os.path.expanduser(path)))
    except OSError as exc:  # a link swapped while it was being resolved (EINVAL from readlink)
        raise _changed(path, exc) from None
    if candidate != root and root not in candidate.parents:
        raise ToolError(f"'{path}' is outside the workspace; only paths inside {root} are allowed")
    return candidate


def relative(workspace: Path, target: Path) -> str:
    """``target`` (resolved, inside) relative to the workspace, with ``/``; ``.`` for the workspace itself."""
    return Path(target).relative_to(_root(workspace)).as_posix() or "."


def secret_refusal(workspace: Path, path: str) -> str | None:
    """Why ``path`` may not be touched as a secret file (by its name or what it resolves to), or None."""
    try:
        resolved = relative(workspace, resolve_in_workspace(workspace, path))
    except ToolError:
        resolved = ""
    if is_secret_file(path) or (resolved and is_secret_file(resolved)):
        shown = path if is_secret_file(path) else f"{path} (a link to {resolved})"
        return f"{shown} looks like a secret file (keys, tokens, credentials); file tools may not touch it"
    return None


def check_readable(workspace: Path, path: str) -> Path:
    """The resolved path, inside the workspace and not a secret file."""
    target = resolve_in_workspace(workspace, path)
    refusal = secret_refusal(workspace, path)
    if refusal:
        raise ToolError(refusal)
    return target


def check_writable(workspace: Path, path: str, protected: Iterable[str] = PROTECTED) -> Path:
    """The resolved path a file tool may write: inside, not secret, not a folder name, not protected."""
    if path.endswith(("/", "\\")) or path.rstrip("/") in ("", "."):
        raise ToolError(f"'{path}' names a folder; give a file path (folders are made as needed)")
    target = check_readable(workspace, path)
    rel = relative(workspace, target)
    for name in protected:
        name = name.strip("/")
        if rel == name or rel.startswith(name + "/") or (name == ".git" and ".git" in rel.split("/")):
            raise ToolError(f"{path} is inside {name}, which file tools may not change (locoder's state, the "
                            "project configuration and git internals are the user's)")
    return target


def _open_dir(root_fd: int, parts: list[str], create: bool) -> int:
    """A descriptor of the folder ``parts`` below ``root_fd``, no symlink followed; made when ``create``."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o777, dir_fd=fd)
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _changed(path: str, exc: OSError) -> ToolError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV, errno.EINVAL):
        return ToolError(f"{path} changed while it was being opened (a folder became a link); nothing was "
                         "written outside the workspace. Check the path and try again")
    return ToolError(f"cannot open {path}: {exc.strerror}")


def _split(workspace: Path, target: Path) -> tuple[int, list[str], str]:
    rel = relative(workspace, target)
    if rel == ".":
        raise ToolError("the workspace itself is not a file")
    *folders, name = rel.split("/")
    root_fd = os.open(_root(workspace), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return root_fd, folders, name


def read_beneath(workspace: Path, target: Path, shown: str, limit: int) -> bytes:
    """The bytes of ``target`` (resolved, inside), opened without following any link; a regular file only,
    at most ``limit`` bytes (a larger file is refused)."""
    root_fd, folders, name = _split(workspace, target)
    try:
        dir_fd = _open_dir(root_fd, folders, create=False)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # what opening a unix socket gives
            raise ToolError(f"{shown} is not a regular file (a pipe, socket or device)") from None
        raise _changed(shown, exc) from None
    finally:
        os.close(root_fd)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{shown} is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{shown} is not a regular file (a pipe, socket or device)")
        if st.st_size > limit:
            raise ToolError(f"{shown} is larger than {limit} bytes; use grep or a line range")
        return handle.read(limit + 1)


def write_beneath(workspace: Path, target: Path, shown: str, data: bytes) -> None:
    """Replace ``target`` (resolved, inside) with ``data`` in one rename, every folder opened without
    following links from a descriptor of the workspace; missing folders are made. An existing file keeps
    its mode."""
    root_fd, folders, name = _split(workspace, target)
    tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        dir_fd = _open_dir(root_fd, folders, create=True)
    except OSError as exc:
        os.close(root_fd)
        raise _changed(shown, exc) from None
    os.close(root_fd)
    try:
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode.st_mode):
            raise ToolError(f"{shown} is a folder")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), stat.S_IMODE(mode.st_mode) if mode and stat.S_ISREG(mode.st_mode)
                          else new_file_mode())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise _changed(shown, exc) from None
    finally:
        os.close(dir_fd)


def open_confined(workspace: Path, path: Path) -> BinaryIO | None:
    """For walkers (grep's fallback, the log digest): ``path`` opened for reading, or None when it is not a
    regular file inside the workspace that a reading tool may see (a link leading out, a secret file by name or
    by target, a pipe, socket or device). Checked on the opened descriptor (``/proc/self/fd``), so a link
    swapped in just before the open is caught too; opened non-blocking, so a FIFO never blocks."""
    given = os.path.relpath(os.path.abspath(path), _root(workspace))
    if given.startswith("..") or is_secret_file(given):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        real = Path(os.readlink(f"/proc/self/fd/{fd}")) if os.path.isdir("/proc/self/fd") else \
            Path(os.path.realpath(path))
        root = _root(workspace)
        inside = real == root or root in real.parents
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not inside or is_secret_file(relative(workspace, real)):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except (OSError, ValueError):
        os.close(fd)
        return None


def display(workspace: Path, path: Path) -> str:
    root = _root(workspace)
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)
