"""Filesystem helpers: content hashes and atomic writes.

Every file the pipeline produces goes through :func:`atomic_write_bytes` so a
killed run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import OutputError, TornDatasetError

_CHUNK_BYTES = 1 << 20
_FILE_MODE = 0o644


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileIdentity:
    """What says a file is still the one that was hashed: its size, mtime and inode.

    An edit in place changes the size or the mtime; a replacement (a rename over
    it) changes the inode."""

    size_bytes: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    def changes(self, path: Path) -> str | None:
        """What differs now at ``path`` (a short reason), or None when it is the same file."""
        try:
            now = FileIdentity.of(path)
        except OSError as exc:
            return f"it is gone ({exc.strerror or type(exc).__name__})"
        if now.inode != self.inode or now.device != self.device:
            return "it was replaced (another inode)"
        if now.size_bytes != self.size_bytes:
            return f"its size changed ({self.size_bytes} -> {now.size_bytes} bytes)"
        if now.mtime_ns != self.mtime_ns:
            return "it was modified (mtime changed)"
        return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes, *, skip_if_same: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename.

    With ``skip_if_same`` an existing file holding exactly ``data`` is left
    untouched (mtime included), so an idempotent rerun writes nothing.
    Returns True when the file was written.
    """
    path = Path(path)
    if skip_if_same and path.is_file() and path.stat().st_size == len(data):
        if path.read_bytes() == data:
            return False
    try:
        return _write_via_temp(path, data)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(exc.errno, f"{path}: cannot write ({exc.strerror or type(exc).__name__})") from exc


def _write_via_temp(path: Path, data: bytes) -> bool:
    # The folder is made only when it is missing: a mkdir of a folder that exists cost 0.9 ms on this
    # machine's disk, 263 times in one run of bench/pairs.py (a crop or mask each), 0.24 s of 3.2.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600 files; datasets are shared, so use the usual 0644.
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def table_bytes(table: pa.Table) -> bytes:
    """Parquet bytes of ``table``: same table, same bytes (no timestamps are written)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


# The commit file of a dataset folder: each published table's sha256 and size.
COMMIT_FILE = "manifests.json"


class Publication:
    """Files of one folder published as a unit (``with Publication(out_dir) as pub:``).

    Before a file is written the commit file lists it as pending; when the block ends
    without an error the commit file names every file's sha256 and nothing is pending.
    A reader (:func:`check_published`) refuses a pending file or one that differs from
    its entry, so a killed publish never passes for a consistent dataset. Entries of
    files not written in this publication are kept: other steps publish their own
    tables (embeddings, pairs, erasures) into the same folder."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        commit = read_commit(self.out_dir)
        self.entries: dict[str, dict] = dict(commit.get("tables", {}))
        self.pending: list[str] = list(commit.get("pending", []))
        # Left pending by an earlier publish that was killed: they stay refused until written again.
        self.inherited = set(self.pending)
        self.written: set[str] = set()

    def __enter__(self) -> Publication:
        return self

    def write(self, name: str, data: bytes) -> bool:
        """Write ``name`` (relative to the folder) atomically; True when its bytes changed."""
        entry = {"sha256": sha256_bytes(data), "size_bytes": len(data)}
        if self.entries.get(name) == entry and name not in self.pending and (self.out_dir / name).is_file():
            if (self.out_dir / name).stat().st_size == len(data) and sha256_file(self.out_dir / name) == entry["sha256"]:
                return False
        self.pending = sorted({*self.pending, name})
        self.entries.pop(name, None)
        self._commit()
        written = atomic_write_bytes(self.out_dir / name, data, skip_if_same=True)
        self.entries[name] = entry
        self.written.add(name)
        return written

    def remove(self, name: str) -> None:
        self.entries.pop(name, None)
        (self.out_dir / name).unlink(missing_ok=True)

    def __exit__(self, kind, error, tb) -> None:
        if kind is None:
            self.pending = sorted(self.inherited - self.written)
            self._commit()

    def _commit(self) -> None:
        body = {"tables": dict(sorted(self.entries.items())), "pending": self.pending}
        data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
        atomic_write_bytes(self.out_dir / COMMIT_FILE, data, skip_if_same=True)


def publish_tables(out_dir: Path, tables: dict[str, bytes]) -> None:
    """Publish named tables (file name -> bytes) into ``out_dir`` as one unit (:class:`Publication`)."""
    with Publication(out_dir) as publication:
        for name, data in tables.items():
            publication.write(name, data)


def read_commit(out_dir: Path) -> dict:
    try:
        return json.loads((Path(out_dir) / COMMIT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise TornDatasetError(f"{Path(out_dir) / COMMIT_FILE}: unreadable commit file ({exc})") from exc


def check_published(out_dir: Path, names: list[str]) -> None:
    """Raise :class:`TornDatasetError` naming the first of ``names`` that is pending or
    differs from the commit file. A folder without a commit file (written before
    commits existed, or by hand) is not checked."""
    out_dir = Path(out_dir)
    commit = read_commit(out_dir)
    if not commit:
        return
    for name in names:
        if name in commit.get("pending", []):
            raise TornDatasetError(f"{out_dir / name}: a publish was interrupted ({COMMIT_FILE} marks it pending); rerun the run")
        entry = commit.get("tables", {}).get(name)
        path = out_dir / name
        if entry is not None and (not path.is_file() or sha256_file(path) != entry["sha256"]):
            raise TornDatasetError(f"{path}: does not match {COMMIT_FILE} (torn or edited dataset); rerun the run that writes it")


# The user cache folder (derived files a run can rebuild: the edited detector model, fetched releases).
CACHE_ENV = "FACECORPUS_CACHE_DIR"


def cache_root() -> Path:
    """``$FACECORPUS_CACHE_DIR``, else ``$XDG_CACHE_HOME/facecorpus``, else ``~/.cache/facecorpus``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "facecorpus"


# Next to a cached file, the sha256 of its bytes: a torn, truncated or edited entry is never trusted.
CHECKSUM_SUFFIX = ".sha256"


def read_cached(path: Path) -> bytes | None:
    """The bytes of cache entry ``path`` when they match the sha256 stored next to them, else None."""
    try:
        data = path.read_bytes()
        expected = path.with_name(path.name + CHECKSUM_SUFFIX).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return data if sha256_bytes(data) == expected else None


def write_cached(path: Path, data: bytes) -> None:
    """Store ``data`` as cache entry ``path`` (atomically), then its sha256: a reader that sees new
    bytes with an old or missing checksum rebuilds the entry rather than trusting it."""
    atomic_write_bytes(path, data)
    atomic_write_bytes(path.with_name(path.name + CHECKSUM_SUFFIX), (sha256_bytes(data) + "\n").encode("ascii"))
