"""Snapshots and batches: what is there now, and how the new work is cut into shards.

- A snapshot (``snapshots/<snapshot_id>.json``) lists the corpus as it is now,
  keyed by content hash; its id is the hash of its content, so it is immutable.
- A batch (``batches/<batch_id>.json``) holds the videos that had no finished work
  for the current stage fingerprints when it was planned, cut into shards of at
  most N videos or a byte budget, in uri order. Ids are hashes: the same work
  gives the same batch and shard ids.
- A shard is done when ``batches/<batch_id>/<shard_id>.done`` exists. A batch with
  shards left is resumed as it is, never re-sharded; only videos in no pending
  shard form a new batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.corpus.snapshot import VideoInput
from pipeline.fsutil import atomic_write_bytes

SNAPSHOTS_DIR = "snapshots"
BATCHES_DIR = "batches"


@dataclass(frozen=True)
class Shard:
    shard_id: str
    batch_id: str
    video_ids: tuple[str, ...]
    size_bytes: int


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def write_snapshot(out_dir: Path, inputs: list[VideoInput]) -> str:
    listing = [
        {"video_id": i.video_id, "uri": i.entry.uri, "duplicate_uris": list(i.duplicate_uris), "size_bytes": i.size_bytes} for i in inputs
    ]
    snapshot_id = _hash(listing)
    atomic_write_bytes(Path(out_dir) / SNAPSHOTS_DIR / f"{snapshot_id}.json", json.dumps(listing, indent=1).encode(), skip_if_same=True)
    return snapshot_id


def shard_done_path(out_dir: Path, shard: Shard) -> Path:
    return Path(out_dir) / BATCHES_DIR / shard.batch_id / f"{shard.shard_id}.done"


def mark_shard_done(out_dir: Path, shard: Shard) -> None:
    atomic_write_bytes(shard_done_path(out_dir, shard), shard.shard_id.encode(), skip_if_same=True)


def pending_shards(out_dir: Path, fingerprints: dict[str, str]) -> list[Shard]:
    """Shards of earlier batches, for the same fingerprints, that are not done."""
    pending = []
    for path in sorted((Path(out_dir) / BATCHES_DIR).glob("*.json")):
        batch = json.loads(path.read_text(encoding="utf-8"))
        if batch["fingerprints"] != fingerprints:
            continue
        for raw in batch["shards"]:
            shard = Shard(raw["shard_id"], raw["batch_id"], tuple(raw["video_ids"]), raw["size_bytes"])
            if not shard_done_path(out_dir, shard).exists():
                pending.append(shard)
    return pending


def plan(
    out_dir: Path,
    todo: list[VideoInput],
    fingerprints: dict[str, str],
    shard_videos: int,
    shard_bytes: int,
    family: dict[str, str] | None = None,
) -> list[Shard]:
    """The shards to run: unfinished shards of earlier batches, then a new batch for the rest.
    ``family``: video_id -> the uri of the original it derives from (pair-aware extraction), so that
    fakes are cut into the shard of their original where the shard size allows."""
    pending = pending_shards(out_dir, fingerprints)
    taken = {vid for shard in pending for vid in shard.video_ids}
    fresh = [i for i in todo if i.video_id not in taken]
    if not fresh:
        return pending
    batch_id = _hash({"fingerprints": fingerprints, "videos": sorted(i.video_id for i in fresh)})
    shards = [
        Shard(f"{batch_id}-{n:04d}", batch_id, tuple(i.video_id for i in group), sum(i.size_bytes or 0 for i in group))
        for n, group in enumerate(_cut(fresh, shard_videos, shard_bytes, family or {}))
    ]
    record = {"batch_id": batch_id, "fingerprints": fingerprints, "shards": [asdict(s) for s in shards]}
    atomic_write_bytes(Path(out_dir) / BATCHES_DIR / f"{batch_id}.json", json.dumps(record, indent=1).encode(), skip_if_same=True)
    return pending + shards


def _cut(inputs: list[VideoInput], max_videos: int, max_bytes: int, family: dict[str, str]) -> list[list[VideoInput]]:
    """Shards in uri order of each family's root; a family (an original and its fakes, original first) starts
    a new shard when it would not fit in the current one (one larger than a shard is cut)."""
    root = lambda i: family.get(i.video_id, i.entry.uri)  # noqa: E731
    families: dict[str, list[VideoInput]] = {}
    for item in sorted(inputs, key=lambda i: (root(i), i.entry.uri != root(i), i.entry.uri)):
        families.setdefault(root(item), []).append(item)
    groups: list[list[VideoInput]] = []
    current: list[VideoInput] = []
    current_bytes = 0
    for members in families.values():
        size = sum(i.size_bytes or 0 for i in members)
        if current and (len(current) + len(members) > max_videos or current_bytes + size > max_bytes):
            groups.append(current)
            current, current_bytes = [], 0
        for item in members:
            size = item.size_bytes or 0
            if current and (len(current) >= max_videos or current_bytes + size > max_bytes):
                groups.append(current)
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += size
    if current:
        groups.append(current)
    return groups
