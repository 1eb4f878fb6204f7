"""Reading a file only when it is a regular file: a FIFO, device or socket planted in the workspace must never
block a reader. The file is opened with ``O_NONBLOCK`` (opening a FIFO then returns at once) and checked with
``fstat`` on the open descriptor, so a swap between a check and the open changes nothing.

The lowest layer: any part of locoder may import it, and it imports nothing of locoder.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder, not a file that can be read to its end."""


def read_regular(path: Path | str, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path`` (at most ``max_bytes + 1`` when given, so a caller can tell it was longer);
    ``NotRegularFile`` when it is not a regular file. Never blocks on a special file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # what opening a unix socket gives
            raise NotRegularFile(f"{os.fsdecode(path)} is not a regular file (a socket)") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{os.fsdecode(path)} is not a regular file ({kind_of(mode)})")
        chunks, left = [], (max_bytes + 1 if max_bytes is not None else -1)
        while left != 0:
            chunk = os.read(fd, 1 << 20 if left < 0 else min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path | str, errors: str = "replace", max_bytes: int | None = None) -> str:
    """``read_regular`` decoded as UTF-8 (bad bytes replaced by default)."""
    return read_regular(path, max_bytes).decode("utf-8", errors)


def open_append(path: Path | str, mode: int = 0o600) -> int:
    """A descriptor for appending to ``path`` (made if missing) that never blocks: a FIFO or socket put in its
    place is refused with ``NotRegularFile``. Character devices (``/dev/null``, ``/dev/full``) are allowed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads, or a socket
            raise NotRegularFile(errno.ENXIO, "not a regular file (a FIFO or socket)") from None
        raise
    st_mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(st_mode) or stat.S_ISCHR(st_mode)):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, f"not a regular file ({kind_of(st_mode)})")
    return fd


def append_line(path: Path, data: bytes, mode: int = 0o600, *, end_torn_tail: bool = False) -> None:
    """Append ``data`` (one line or more, ending in a newline) with a single write, so concurrent writers never
    interleave a line; the folder is made if missing, and a FIFO or socket put in the file's place is refused
    (``NotRegularFile``), never waited on. ``end_torn_tail``: when the file does not end in a newline (a writer
    killed mid-line), end that line first, so ``data`` is not glued onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_append(path, mode)
    try:
        if end_torn_tail and not _ends_a_line(path):
            data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


def _ends_a_line(path: Path | str) -> bool:
    """Whether the regular file at ``path`` is empty or ends in a newline (True when it cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        st = os.fstat(fd)
        return not stat.S_ISREG(st.st_mode) or st.st_size == 0 or os.pread(fd, 1, st.st_size - 1) == b"\n"
    except OSError:
        return True
    finally:
        os.close(fd)


def read_json_lines(path: Path | str) -> list[dict]:
    """Every complete record (a JSON object per line) of a file written with ``append_line``; a torn line (a kill
    mid-write, even inside a UTF-8 character) and anything that is not an object are skipped. Raises ``OSError``
    when the file cannot be read (``NotRegularFile`` for a FIFO or socket, never waited on)."""
    import json

    records = []
    for raw in read_regular(path).split(b"\n"):
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def is_regular(path: Path | str) -> bool:
    """Whether ``path`` (symlinks followed) is a regular file; False for special files and on any error."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "a special file"
