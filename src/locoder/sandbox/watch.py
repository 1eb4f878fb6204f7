"""A watch on how much disk a command's folders use, stopping the command past a cap.

RLIMIT_FSIZE caps one file; this caps them all together: the workspace and the command's scratch
folders are measured when the command starts and again every 50 ms while it runs (less often in a big
workspace: measuring takes at most a fifth of the time; allocated blocks, each inode once, symbolic links not
followed), and when they have grown by more than the cap the command is stopped and its observation says why.
A fast writer overshoots the cap by what it writes between two measures.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path


def disk_usage(roots: list[Path]) -> int:
    """Bytes allocated under ``roots``: every file and folder once (hard links too), links not followed,
    special files and unreadable folders skipped."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(r) for r in roots]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return total


class DiskWatch:
    """Measures ``roots`` in a thread; calls ``on_exceeded`` once when they grew past ``cap_bytes``."""

    def __init__(self, roots: list[Path], cap_bytes: int, interval: float = 0.05) -> None:
        self.roots = roots
        self.cap_bytes = cap_bytes
        self.interval = interval
        self.reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._baseline = 0
        self._pause = interval

    def start(self, on_exceeded: Callable[[], None] | None = None) -> None:
        """Measure now (before the command starts, so nothing it writes counts as the baseline); watching
        begins with ``arm`` (or here, when ``on_exceeded`` is given)."""
        self._baseline = disk_usage(self.roots)
        if on_exceeded is not None:
            self.arm(on_exceeded)

    def arm(self, on_exceeded: Callable[[], None]) -> None:
        def watch() -> None:
            while not self._stop.wait(self._pause):
                began = time.monotonic()
                grown = disk_usage(self.roots) - self._baseline
                if grown > self.cap_bytes:
                    self.reason = (f"stopped: the command wrote more than the disk cap of {self.cap_bytes >> 20}"
                                   " MiB (disk_mb) into the workspace and its scratch folders")
                    on_exceeded()
                    return
                # A big workspace takes longer to measure: never spend more than a fifth of the time on it.
                self._pause = max(self.interval, 4 * (time.monotonic() - began))

        self._thread = threading.Thread(target=watch, name="locoder-disk-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
