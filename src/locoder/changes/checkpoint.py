"""Outside git: a checkpoint of the workspace's files before each task, so that its change can be shown and
undone all the same.

Each file's bytes are kept once by their SHA-256 in ``changes/objects/`` of the state folder (a file that did
not change since the last scan is not read again: its size, time and inode are the same). A task's change is
what differs between the scans at its start and end: files created, changed and deleted, each with the
object of its bytes before and after. Files over ``MAX_FILE`` (or past ``MAX_TOTAL`` in all) are not kept;
undo refuses to restore them rather than guess. Links are kept as links, never followed.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from locoder.atomic import write_atomic
from locoder.changes.errors import ChangeError
from locoder.changes.gitrepo import NOISE

MAX_FILE = 5_000_000
MAX_TOTAL = 200_000_000
SKIPPED = NOISE | {".git", ".hg", ".svn"}


@dataclass
class Entry:
    """One path of a scan: a regular file (``kind = "file"``) or a link, with its object (None: not kept)."""

    kind: str
    object: str | None
    mode: int
    size: int
    mtime_ns: int
    ino: int

    def same_file(self, st: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ino, self.mode) == (st.st_size, st.st_mtime_ns, st.st_ino,
                                                                  stat.S_IMODE(st.st_mode))


def _hash(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class Store:
    """The objects of the checkpoints: bytes by their hash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, digest: str) -> Path:
        return self.folder / digest

    def put(self, data: bytes) -> str:
        digest = _hash(data)
        if not self.path(digest).exists():
            write_atomic(self.path(digest), data)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except OSError as exc:
            raise ChangeError(f"the checkpoint's copy {digest[:12]} is missing ({exc.strerror})") from None

    def keep_only(self, wanted: set[str]) -> None:
        """Delete every object not in ``wanted`` (those of the kept records and of the last scan)."""
        try:
            items = list(self.folder.iterdir())
        except OSError:
            return
        for item in items:
            if item.name not in wanted and len(item.name) == 64:
                item.unlink(missing_ok=True)


def _walk(workspace: Path, skipped: tuple[str, ...]):
    """Relative paths (with ``/``) and lstat of every file and link, state folder and VCS/cache folders
    passed by."""
    for folder, dirs, files in os.walk(workspace):
        rel = os.path.relpath(folder, workspace)
        rel = "" if rel == "." else Path(rel).as_posix()
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and (f"{rel}/{d}" if rel else d) not in skipped
                         and not os.path.islink(os.path.join(folder, d)))
        links = [d for d in os.listdir(folder) if d not in files and os.path.islink(os.path.join(folder, d))]
        for name in sorted(set(files) | set(links)):
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                yield (f"{rel}/{name}" if rel else name), path, st


def scan(workspace: Path, skipped: tuple[str, ...], store: Store, previous: dict[str, Entry]) -> dict[str, Entry]:
    """Every file of the workspace with its object, its bytes kept in ``store`` (under the caps); a file
    whose size, time and inode match ``previous`` keeps the object it had."""
    out: dict[str, Entry] = {}
    total = 0
    for rel, path, st in _walk(workspace, skipped):
        kind = "link" if stat.S_ISLNK(st.st_mode) else "file"
        old = previous.get(rel)
        entry = Entry(kind, None, stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino)
        if old is not None and old.kind == kind and old.object and old.same_file(st) and store.path(old.object).exists():
            entry.object = old.object
        elif kind == "link":
            entry.object = store.put(os.fsencode(os.readlink(path)))
        elif st.st_size <= MAX_FILE and total + st.st_size <= MAX_TOTAL:
            try:
                with open(path, "rb") as handle:
                    entry.object = store.put(handle.read())
            except OSError:
                entry.object = None
        total += st.st_size if entry.object else 0
        out[rel] = entry
    return out


def difference(before: dict[str, Entry], after: dict[str, Entry]) -> dict[str, dict]:
    """``path -> {"before", "after", "mode", "kind"}`` for every path created, changed or deleted (an object
    of None on one side: the file was not there; ``"?"``: it was, but over the caps)."""
    out = {}
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old is not None and new is not None and _same(old, new):
            continue
        out[rel] = {"before": None if old is None else (old.object or "?"),
                    "after": None if new is None else (new.object or "?"),
                    "mode": (old or new).mode, "kind": (old or new).kind}
    return out


def _same(old: Entry, new: Entry) -> bool:
    if (old.kind, old.mode) != (new.kind, new.mode):
        return False
    if old.object and new.object:
        return old.object == new.object
    return (old.size, old.mtime_ns, old.ino) == (new.size, new.mtime_ns, new.ino)


def entries_to_json(entries: dict[str, Entry]) -> dict[str, dict]:
    return {rel: asdict(e) for rel, e in entries.items()}


def entries_from_json(data: dict) -> dict[str, Entry]:
    try:
        return {rel: Entry(**e) for rel, e in data.items()}
    except TypeError:
        return {}


def inside(workspace: Path, rel: str) -> Path:
    """``workspace/rel``, refused when ``rel`` climbs out or a folder on the way is a link."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise ChangeError(f"the checkpoint names {rel!r}, which is not inside the workspace")
    root = os.path.realpath(workspace)
    parent = os.path.realpath(os.path.join(workspace, *parts[:-1])) if len(parts) > 1 else root
    if parent != os.path.join(root, *parts[:-1]):
        raise ChangeError(f"a folder on the way to {rel} is a link; nothing restored there")
    return Path(parent) / parts[-1]


def restore(workspace: Path, changes: dict[str, dict], store: Store) -> None:
    """Put every changed path back as it was before (files created are removed, with folders they left
    empty). Everything is checked first: a path changed again since, or whose copy was not kept, refuses all."""
    later = [rel for rel, change in changes.items() if change["after"] != "?"
             and digest_of(inside(workspace, rel), change["kind"]) != change["after"]]
    if later:
        shown = ", ".join(later[:5]) + (f" and {len(later) - 5} more" if len(later) > 5 else "")
        raise ChangeError(f"{shown} changed after the task; nothing undone")
    unkept = [rel for rel, change in changes.items() if change["before"] == "?"]
    if unkept:
        raise ChangeError(f"no copy was kept of {', '.join(unkept[:5])} (over {MAX_FILE // 1_000_000} MB, or the "
                          "checkpoint was full); nothing undone")
    for rel, change in changes.items():
        target = inside(workspace, rel)
        if change["before"] is None:
            target.unlink(missing_ok=True)
            _prune(target.parent, workspace)
            continue
        data = store.get(change["before"])
        if change["kind"] == "link":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            os.symlink(os.fsdecode(data), target)
            continue
        if target.is_symlink():
            target.unlink()
        write_atomic(target, data)
        os.chmod(target, change["mode"])


def _prune(folder: Path, workspace: Path) -> None:
    """Remove the empty folders a removed file leaves, up to the workspace."""
    root = Path(os.path.realpath(workspace))
    while Path(os.path.realpath(folder)) != root and root in Path(os.path.realpath(folder)).parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def digest_of(path: Path, kind: str = "file") -> str | None:
    """The object a path would be stored as now, or None when it is missing; ``"?"`` when it is too big to
    read (then it is compared as changed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return _hash(os.fsencode(os.readlink(path))) if kind == "link" else "link"
    if not stat.S_ISREG(st.st_mode) or kind == "link":
        return "other"
    if st.st_size > MAX_FILE:
        return "?"
    with open(path, "rb") as handle:
        return _hash(handle.read())


def diff(changes: dict[str, dict], store: Store) -> str:
    """A unified diff of a checkpoint's change (binary files, and files too big to keep, named)."""
    out: list[str] = []
    for rel, change in changes.items():
        before, after = change["before"], change["after"]
        if "?" in (before, after):
            out.append(f"{rel}: changed (too big to keep a copy)\n")
            continue
        try:
            old = "" if before is None else store.get(before).decode("utf-8")
            new = "" if after is None else store.get(after).decode("utf-8")
        except UnicodeDecodeError:
            what = "created" if before is None else "deleted" if after is None else "changed"
            out.append(f"Binary file {rel} {what}\n")
            continue
        lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     "/dev/null" if before is None else f"a/{rel}",
                                     "/dev/null" if after is None else f"b/{rel}")
        out += [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]
    return "".join(out)
