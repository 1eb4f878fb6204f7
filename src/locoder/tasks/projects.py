"""Real projects for benchmark tasks: pinned sdists fetched and verified once, one test venv per project.

Everything lives under one cache folder (``default_cache_dir()``, ``~/.cache/locoder/bench`` unless
``XDG_CACHE_HOME`` says otherwise): ``sdists/`` (the downloaded archives), ``src/NAME-VERSION/`` (the
unpacked pristine trees, never modified), ``venvs/`` (a Python environment with pytest and the project's
test dependencies) and ``baselines/`` (which tests pass on the pristine tree). Each is built in a temporary
folder and renamed into place, so concurrent users never see half of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from locoder.locations import cache_dir


class BenchError(RuntimeError):
    """A project could not be fetched, verified, unpacked or given its environment."""


def default_cache_dir() -> Path:
    return cache_dir() / "bench"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(project: str, version: str, dest: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               f"{project}=={version}", "-d", str(dest)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    archives = [p for p in dest.iterdir() if p.name.endswith((".tar.gz", ".zip", ".tar.bz2"))]
    if done.returncode != 0 or len(archives) != 1:
        raise BenchError(f"pip download {project}=={version} failed: {done.stderr.strip()[-800:]}")
    return archives[0]


def fetch_sdist(project: str, version: str, sha256: str, cache_dir: Path | None = None) -> Path:
    """The sdist archive of ``project==version`` in the cache, downloaded once and checked against ``sha256``."""
    folder = (cache_dir or default_cache_dir()) / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    for existing in folder.glob(f"*-{version}.*"):
        if sha256_of(existing) == sha256:
            return existing
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        archive = _download(project, version, Path(tmp))
        found = sha256_of(archive)
        if found != sha256:
            raise BenchError(f"{archive.name}: sha256 {found}, expected {sha256}")
        target = folder / archive.name
        os.replace(archive, target)
    return target


def _unpack(archive: Path, dest: Path) -> None:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise BenchError(f"{archive.name}: unsafe path {name!r}")
            zipped.extractall(dest)
        return
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def fetch_project(project: str, version: str, sha256: str, cache_dir: Path | None = None) -> Path:
    """The pristine source tree of ``project==version`` (unpacked from its verified sdist, cached)."""
    root = (cache_dir or default_cache_dir()) / "src"
    target = root / f"{project}-{version}"
    if (target / ".complete").exists():
        return target
    archive = fetch_sdist(project, version, sha256, cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        _unpack(archive, Path(tmp))
        tops = list(Path(tmp).iterdir())
        if len(tops) != 1 or not tops[0].is_dir():
            raise BenchError(f"{archive.name}: expected one top-level folder, found {[p.name for p in tops]}")
        (tops[0] / ".complete").write_text(sha256 + "\n")
        try:
            os.replace(tops[0], target)
        except OSError:
            if not (target / ".complete").exists():
                raise
    return target


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def project_venv(project: str, version: str, test_deps: list[str], cache_dir: Path | None = None) -> Path:
    """A virtual environment with ``test_deps`` (pytest among them), built once per project and reused."""
    key = hashlib.sha256("\n".join([sys.version, *sorted(test_deps)]).encode()).hexdigest()[:10]
    root = (cache_dir or default_cache_dir()) / "venvs"
    target = root / f"{project}-{version}-{key}"
    if (target / ".complete").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    # Built beside its final name and renamed; scripts hold absolute paths, so they are relocated after.
    staging = root / f".{target.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, capture_output=True, timeout=300)
        done = subprocess.run(
            [str(venv_python(staging)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *test_deps], capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0:
            raise BenchError(f"installing {test_deps} for {project} failed: {done.stderr.strip()[-800:]}")
        relocate_venv(staging, staging, target)
        (staging / ".complete").write_text("\n".join(test_deps) + "\n")
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def relocate_venv(venv: Path, old: Path, new: Path) -> None:
    """Point a moved or copied venv's scripts (shebangs, activate) and pyvenv.cfg at its new place."""
    candidates = [*sorted((venv / "bin").iterdir()), venv / "pyvenv.cfg"]
    for path in candidates:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
            continue
        data = path.read_bytes()
        if str(old).encode() in data and b"\0" not in data:
            path.write_bytes(data.replace(str(old).encode(), str(new).encode()))


def copy_venv(source: Path, dest: Path, import_root: Path) -> Path:
    """Copy the cached venv to ``dest`` and make ``import_root`` importable from it through a ``.pth`` file."""
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True, timeout=300)
    (dest / ".complete").unlink(missing_ok=True)
    relocate_venv(dest, source, dest)
    for site in (dest / "lib").glob("python*/site-packages"):
        (site / "_locoder_bench_repo.pth").write_text(f"{import_root}\n")
    return dest
