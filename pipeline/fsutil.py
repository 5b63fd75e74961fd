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


def publish_tables(out_dir: Path, tables: dict[str, bytes]) -> None:
    """Publish named tables (file name -> bytes) into ``out_dir`` as one unit.

    The commit file first marks them pending (their old entries dropped), then each
    table is written atomically, then the commit file names every table's sha256.
    A reader (:func:`check_published`) that finds a table pending or different from
    its entry refuses it, so a killed publish never passes for a consistent dataset.
    Tables published before under other names keep their entries (other steps add
    their own tables: embeddings, pairs, erasures)."""
    out_dir = Path(out_dir)
    entries = {k: v for k, v in read_commit(out_dir).get("tables", {}).items() if k not in tables}
    unchanged = all(
        (out_dir / name).is_file() and sha256_file(out_dir / name) == sha256_bytes(data) for name, data in tables.items()
    ) and set(tables) <= set(read_commit(out_dir).get("tables", {}))
    if not unchanged:
        _write_commit(out_dir, entries, pending=sorted(tables))
    for name, data in tables.items():
        atomic_write_bytes(out_dir / name, data, skip_if_same=True)
    entries |= {name: {"sha256": sha256_bytes(data), "size_bytes": len(data)} for name, data in tables.items()}
    _write_commit(out_dir, entries, pending=[])


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


def _write_commit(out_dir: Path, entries: dict, pending: list[str]) -> None:
    body = {"tables": dict(sorted(entries.items())), "pending": pending}
    atomic_write_bytes(out_dir / COMMIT_FILE, (json.dumps(body, indent=1, sort_keys=True) + "\n").encode(), skip_if_same=True)
