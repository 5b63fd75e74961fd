"""Filesystem helpers: content hashes and atomic writes.

Every file the pipeline produces goes through :func:`atomic_write_bytes` so a
killed run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_CHUNK_BYTES = 1 << 20
_FILE_MODE = 0o644


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


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
