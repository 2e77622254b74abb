"""Content-addressed cache for expensive artefacts (worlds, trained targets, shadow models).

Keys are hashes of canonical JSON of everything that determines the artefact. A cache
entry is a directory with a ``manifest.json`` listing each file's size and sha256;
entries are built in a ``.partial`` sibling and moved into place atomically, so a killed
build never leaves an entry that looks complete, and a corrupted (e.g. truncated) file
is detected on load and the entry rebuilt. Builds of one entry are serialised across
processes by an exclusive lock on ``.locks/KIND/KEY.lock`` (outside the kind folders, which
hold entries only), so parallel workers that need the same artefact build it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .errors import CorruptCacheError

_fcntl: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # not POSIX (Windows): builds are not locked
    _fcntl = None
fcntl = _fcntl

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


def default_cache_dir() -> Path:
    env = os.environ.get("MIA_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mia-bench"


def stable_hash(obj: Any, length: int = 16) -> str:
    """sha256 of canonical JSON (sorted keys): equal content -> equal key, across runs."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_FINGERPRINTS: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def path_fingerprint(path: Path | str) -> str:
    """Content hash of a local file or folder (every file's relative path and sha256).

    What a spec's local input holds, not its name: a checkpoint replaced in place, or a
    dataset folder edited, gets a new fingerprint. Each file's hash is memoised by
    (path, size, mtime_ns), in this process and in a small JSON sidecar under the default
    cache folder, so a multi-GB checkpoint is read once, not at every plan."""
    root = Path(path).expanduser().resolve()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    sidecar = default_cache_dir() / "fingerprints" / f"{stable_hash(str(root))}.json"
    known = _read_sidecar(sidecar, root)
    fresh, digests = {}, []
    for f in files:
        st = f.stat()
        rel = "." if f == root else str(f.relative_to(root))
        memo = (str(f), st.st_size, st.st_mtime_ns)
        old = known.get(rel)
        if memo not in _FINGERPRINTS:
            if isinstance(old, list) and len(old) == 3 and old[:2] == [st.st_size, st.st_mtime_ns]:
                _FINGERPRINTS[memo] = old[2]
            else:
                _FINGERPRINTS[memo] = file_sha256(f)
        fresh[rel] = [st.st_size, st.st_mtime_ns, _FINGERPRINTS[memo]]
        digests.append((rel, _FINGERPRINTS[memo]))
    if fresh != known:
        try:
            atomic_write_json(sidecar, {"root": str(root), "files": fresh})
        except OSError:  # a read-only cache folder: the in-process memo still holds
            pass
    return stable_hash(digests)


def _read_sidecar(sidecar: Path, root: Path) -> dict:
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return {}  # absent or damaged: hash again (a memo, never a source of truth)
    ok = isinstance(data, dict) and data.get("root") == str(root) and isinstance(data.get("files"), dict)
    return data["files"] if ok else {}


def _umask() -> int:
    """The process umask, read without setting it (``os.umask`` would, racing other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, with the mode a plain ``open`` would give
    (``mkstemp`` makes 0600 files: a results folder shared with a cluster or a team must
    stay readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_manifest(directory: Path, meta: dict | None = None) -> None:
    directory = Path(directory)
    files = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            files[str(p.relative_to(directory))] = {"size": p.stat().st_size, "sha256": file_sha256(p)}
    atomic_write_json(directory / MANIFEST, {"files": files, "meta": meta or {}})


def verify_manifest(directory: Path, check_hashes: bool = True) -> dict:
    """Raise :class:`CorruptCacheError` if any listed file is missing, resized or altered."""
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCacheError(f"cache entry {directory} has no readable manifest ({exc})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not isinstance(manifest.get("meta", {}), dict) or not all(
            isinstance(w, dict) and isinstance(w.get("size"), int) and isinstance(w.get("sha256"), str)
            for w in files.values()):
        raise CorruptCacheError(f"cache manifest {path} has the wrong shape (want {{'files': {{name: {{size, "
                                f"sha256}}}}, 'meta': {{...}}}}, got {str(manifest)[:80]})")
    for rel, want in files.items():
        p = directory / rel
        if not p.is_file():
            raise CorruptCacheError(f"cache entry {directory} is missing {rel}")
        if p.stat().st_size != want["size"]:
            raise CorruptCacheError(
                f"cache file {p} has {p.stat().st_size} bytes, expected {want['size']} (truncated or altered)"
            )
        if check_hashes and file_sha256(p) != want["sha256"]:
            raise CorruptCacheError(f"cache file {p} fails its sha256 check (altered or corrupted)")
    return manifest


def load_cached_file(path: Path, load: Callable[[Path], Any]) -> Any | None:
    """``load(path)`` for a cache file kept outside a manifest entry, or None when it is
    absent or damaged (truncated, empty, garbage): a damaged file is reported with its path
    and deleted, and the caller rebuilds it (the one way such files heal)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 (np.load alone raises BadZipFile, EOFError, ValueError, OSError...)
        log.warning("cache file %s is damaged (%s: %s); rebuilding it", path, type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return None


class Cache:
    """A cache root with one folder per artefact kind: ``root/KIND/KEY/``."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def entry(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def partial(self, kind: str, key: str) -> Path:
        """Work folder of an entry being built; kept across a crash so builds can resume."""
        return self.root / kind / f"{key}.partial"

    def has(self, kind: str, key: str) -> bool:
        try:
            verify_manifest(self.entry(kind, key), check_hashes=False)
            return True
        except CorruptCacheError:
            return False

    def get_or_build(self, kind: str, key: str, build: Callable[[Path], dict | None]) -> Path:
        """Return the verified entry, building it with ``build(work_dir)`` if absent or corrupt.

        ``build`` writes files into ``work_dir`` (which may hold a previous, interrupted
        attempt's files so it can resume) and may return metadata for the manifest.
        """
        final = self.entry(kind, key)
        if self._verified(final):  # the common case, without waiting on a lock
            return final
        with self._lock(kind, key):
            if self._verified(final, warn=True):  # another process may have built it while we waited
                return final
            if final.exists():
                shutil.rmtree(final)
            work = self.partial(kind, key)
            work.mkdir(parents=True, exist_ok=True)
            try:
                meta = build(work)
            except BaseException:
                if not any(work.iterdir()):  # nothing to resume from: leave no empty .partial behind
                    work.rmdir()
                raise
            write_manifest(work, meta)
            os.replace(work, final)
            return final

    @staticmethod
    def _verified(final: Path, warn: bool = False) -> bool:
        if not final.exists():
            return False
        try:
            verify_manifest(final)
            return True
        except CorruptCacheError as exc:
            if warn:
                log.warning("%s; rebuilding it", exc)
            return False

    @contextmanager
    def _lock(self, kind: str, key: str):
        """Exclusive across processes (and threads: each call opens its own file)."""
        path = self.root / ".locks" / kind / f"{key}.lock"  # kept: deleting lock files races
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, also if we crash
            yield
