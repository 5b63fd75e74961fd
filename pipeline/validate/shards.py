"""Facts about a release's shards for the ``shards`` contract, computed once per shard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from schemas.manifests import CROP_LOCATIONS, SHARD_INDEX


def shard_facts(release_dir: Path, face_ids: list[str], crop_sha256: list[str]) -> dict[str, np.ndarray]:
    """Per face: located, shard listed in the index, shard sha256 ok, member bytes' sha256 ok."""
    release_dir = Path(release_dir)
    locations = _read(release_dir / CROP_LOCATIONS, ["face_id", "shard", "offset_bytes", "size_bytes"])
    index = _read(release_dir / SHARD_INDEX, ["shard", "sha256"])
    where = {row[0]: row[1:] for row in locations.rows()}
    listed = dict(index.rows())
    shard_ok = {shard: _file_sha256(release_dir / shard) == digest for shard, digest in listed.items()}
    located, in_index, intact, member_ok = [], [], [], []
    for face_id, expected in zip(face_ids, crop_sha256, strict=True):
        spot = where.get(face_id)
        located.append(spot is not None)
        in_index.append(spot is not None and spot[0] in listed)
        intact.append(spot is not None and shard_ok.get(spot[0], False))
        member_ok.append(spot is not None and _member_sha256(release_dir / spot[0], spot[1], spot[2]) == expected)
    return {
        name: np.asarray(values, dtype=bool)
        for name, values in (
            ("chk_located", located),
            ("chk_shard_listed", in_index),
            ("chk_shard_sha256_ok", intact),
            ("chk_member_sha256_ok", member_ok),
        )
    }


def _read(path: Path, columns: list[str]) -> pl.DataFrame:
    if not path.is_file():
        return pl.DataFrame({c: [] for c in columns})
    return pl.read_parquet(path, columns=columns)


def _file_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _member_sha256(path: Path, offset: int, size: int) -> str | None:
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        fh.seek(offset)
        return hashlib.sha256(fh.read(size)).hexdigest()
