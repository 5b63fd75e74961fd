"""Pack a dataset's crops into WebDataset-compatible tar shards for versioning.

DVC's push, pull and status scale with file count, so a release holds a few
large files: ``shards/faces-NNNNNN.tar`` (at most ``shard_mb`` MB each; per face
``<face_id>.<ext>`` and ``<face_id>.json``, consecutive, as WebDataset expects),
``shard_index.parquet`` (shard, count, size_bytes, sha256),
``crop_locations.parquet`` (face_id -> shard, member, byte offset and size, for
random access; a face of a frame-aligned fake also has ``<face_id>.mask.png``, its difference
mask against its original's face, and its pair's fields in the JSON) and copies of
``videos.parquet``, ``faces.parquet`` and ``tracks.parquet``
(every face, each with its curation status: filtered and duplicate faces are packed too,
so a trainer can re-filter). Tar
headers carry no time, owner or mode variation, and faces go in manifest order,
so the same dataset packs to the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import Publication, check_published, sha256_bytes, table_bytes
from schemas.manifests import (
    CROP_LOCATIONS,
    CROP_LOCATIONS_SCHEMA,
    FACES_MANIFEST,
    GROUP_MANIFESTS,
    MASK_MEMBER,
    PAIRS_MANIFEST,
    SHARD_INDEX,
    SHARD_INDEX_SCHEMA,
    TAR_BLOCK,
    TRACKS_MANIFEST,
    VIDEOS_MANIFEST,
)

SHARDS_DIR = "shards"
SAMPLE_FIELDS = (
    "face_id",
    "video_id",
    "uri",
    "pts_s",
    "det_score",
    "preset",
    "crop_sha256",
    "track_id",
    "status",
    "filter_reason",
    "duplicate_of",
    "quality_score",
    "label",
    "original",
    "subject",
    "split",
    "license",
    "consent",
    "source",
)
# A paired face's JSON also holds these (pairs.parquet); an unpaired face's JSON is as before.
PAIR_FIELDS = ("original_face_id", "paired_by", "mask_mean_diff", "mask_changed_share")


@dataclass(frozen=True)
class PackSummary:
    shards: int
    faces: int
    bytes_written: int
    shards_rewritten: int


def pack_dataset(dataset_dir: Path, out_dir: Path, shard_mb: float = 256.0) -> PackSummary:
    """Pack ``dataset_dir`` (manifests + loose crops) into ``out_dir``; unchanged files are not rewritten."""
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    faces = pq.read_table(dataset_dir / FACES_MANIFEST)
    check_published(dataset_dir, [VIDEOS_MANIFEST, FACES_MANIFEST, TRACKS_MANIFEST, *GROUP_MANIFESTS])
    shards, locations = [], []
    rewritten = 0
    pairs = _pairs(dataset_dir)
    # One unit: a pack killed midway leaves its files pending in manifests.json, which readers refuse.
    with Publication(out_dir) as release:
        for number, rows in enumerate(_groups(dataset_dir, faces.to_pylist(), int(shard_mb * 1e6), pairs)):
            name = f"{SHARDS_DIR}/faces-{number:06d}.tar"
            data, members = _tar(dataset_dir, rows, pairs)
            rewritten += release.write(name, data)
            shards.append({"shard": name, "count": len(rows), "size_bytes": len(data), "sha256": sha256_bytes(data)})
            locations += [{**m, "shard": name} for m in members]
        _remove_stale_shards(release, {s["shard"] for s in shards})
        release.write(SHARD_INDEX, table_bytes(pa.Table.from_pylist(shards, schema=SHARD_INDEX_SCHEMA)))
        release.write(CROP_LOCATIONS, table_bytes(pa.Table.from_pylist(locations, schema=CROP_LOCATIONS_SCHEMA)))
        for name in (VIDEOS_MANIFEST, FACES_MANIFEST, TRACKS_MANIFEST):
            release.write(name, (dataset_dir / name).read_bytes())
        for name in GROUP_MANIFESTS:  # Curation II's tables, when the dataset has them (one from before them: none)
            if (dataset_dir / name).is_file():
                release.write(name, (dataset_dir / name).read_bytes())
            else:  # never an earlier pack's table beside this dataset's faces
                release.remove(name)
    return PackSummary(len(shards), faces.num_rows, sum(s["size_bytes"] for s in shards), rewritten)


def _pairs(dataset_dir: Path) -> dict[str, dict]:
    """face_id -> its pairs.parquet row, for the faces that have a mask (frame-aligned fakes)."""
    path = dataset_dir / PAIRS_MANIFEST
    if not path.is_file() or "mask_path" not in pq.read_schema(path).names:
        return {}
    table = pq.read_table(path, columns=["face_id", "mask_path", *PAIR_FIELDS])
    return {row["face_id"]: row for row in table.to_pylist() if row["mask_path"]}


def _groups(dataset_dir: Path, rows: list[dict], max_bytes: int, pairs: dict[str, dict]) -> list[list[dict]]:
    groups: list[list[dict]] = [[]]
    size = 0
    for row in rows:
        crop_bytes = (dataset_dir / row["crop_path"]).stat().st_size + 4 * TAR_BLOCK
        if row["face_id"] in pairs:
            crop_bytes += (dataset_dir / pairs[row["face_id"]]["mask_path"]).stat().st_size + 2 * TAR_BLOCK
        if groups[-1] and size + crop_bytes > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += crop_bytes
    return [g for g in groups if g]


def _tar(dataset_dir: Path, rows: list[dict], pairs: dict[str, dict]) -> tuple[bytes, list[dict]]:
    buffer = io.BytesIO()
    members = []
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for row in rows:
            image = (dataset_dir / row["crop_path"]).read_bytes()
            ext = row["crop_path"].rsplit(".", 1)[-1]
            pair = pairs.get(row["face_id"])
            fields = {k: row.get(k) for k in SAMPLE_FIELDS} | ({k: pair[k] for k in PAIR_FIELDS} if pair else {})
            meta = json.dumps(fields, sort_keys=True).encode()
            offset = add_member(tar, f"{row['face_id']}.{ext}", image)
            if pair:
                add_member(tar, f"{row['face_id']}.{MASK_MEMBER}", (dataset_dir / pair["mask_path"]).read_bytes())
            add_member(tar, f"{row['face_id']}.json", meta)
            members.append(
                {
                    "face_id": row["face_id"],
                    "crop_sha256": row["crop_sha256"],
                    "member": f"{row['face_id']}.{ext}",
                    "offset_bytes": offset,
                    "size_bytes": len(image),
                }
            )
    return buffer.getvalue(), members


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> int:
    """Add a member with fixed metadata; return the byte offset of its data."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    offset = tar.offset + TAR_BLOCK  # USTAR: one 512-byte header block, then the data
    tar.addfile(info, io.BytesIO(data))
    return offset


def _remove_stale_shards(release: Publication, keep: set[str]) -> None:
    for path in (release.out_dir / SHARDS_DIR).glob("faces-*.tar"):
        if f"{SHARDS_DIR}/{path.name}" not in keep:
            release.remove(f"{SHARDS_DIR}/{path.name}")
