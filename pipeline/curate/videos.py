"""Near-duplicate videos: a re-encode or a resize of the same clip -> ``near_duplicate_of``.

Inputs that have the same bytes are already one video (``video_id``). Two
distinct videos are near-duplicates when at least ``min_share`` of each one's
sampled frames has a frame in the other whose 64-bit pHash
(``pipeline/stages/frames.py``) is within ``max_distance`` bits: both ways, so
a clip and a short excerpt of it are not flagged (the excerpt covers little of
the clip). The pHash is taken on the whole frame shrunk to 32x32, so it does
not see resolution, bit rate or codec; matching is by content, not by time, so
a shifted start does not matter.

Candidate pairs come from the hashes' four 16-bit bands: two videos are
compared only when some frame of each has the same value in some band (two
frames within 3 bits of each other always share a band). A band value held by
more than ``COMMON_BAND_VIDEOS`` videos (black or blank frames) proposes no
pairs. Each group of near-duplicates (pairs joined transitively) keeps one
representative: a video that is not a fake (no ``original`` corpus field),
then the one with the most pixels, then the largest file, then the first uri;
the others name it in ``near_duplicate_of``. Flagging removes nothing: a
DFDC-style fake is a near-duplicate of its original by design, and ``facecorpus
select`` leaves flagged videos out unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.curate.hashes import hamming, hash_ints
from pipeline.stages.base import Stage

BANDS = 4
BAND_BITS = 16
COMMON_BAND_VIDEOS = 50
_DEFAULTS = CurateOptions()

NEAR_DUPLICATES_SCHEMA = pa.schema([pa.field("video_id", pa.string(), nullable=False), pa.field("near_duplicate_of", pa.string())])
# The item: one row per ok video (its frame hashes and what picks the representative).
VIDEO_SIGNATURES_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("original", pa.string()),
        pa.field("pixels", pa.int64()),
        pa.field("size_bytes", pa.int64()),
        pa.field("frame_phashes", pa.list_(pa.string()), nullable=False),
    ]
)


@dataclass(frozen=True)
class NearDuplicateParams:
    max_distance: int = _DEFAULTS.video_dup_max_distance
    min_share: float = _DEFAULTS.video_dup_min_share


def candidate_pairs(hashes: list[np.ndarray]) -> list[tuple[int, int]]:
    """Pairs (i < j) of videos (their frame hashes) with frames that share a band value few videos hold."""
    values = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    rows = np.repeat(np.arange(len(hashes)), [len(h) for h in hashes])
    mask = np.uint64((1 << BAND_BITS) - 1)
    bands = pl.concat(
        [
            pl.DataFrame({"row": rows, "band": np.full(len(values), band), "value": (values >> np.uint64(band * BAND_BITS)) & mask})
            for band in range(BANDS)
        ]
    ).unique()
    common = bands.group_by("band", "value").len().filter(pl.col("len") <= COMMON_BAND_VIDEOS).drop("len")
    bands = bands.join(common, on=["band", "value"])
    pairs = bands.join(bands, on=["band", "value"], suffix="_b").filter(pl.col("row") < pl.col("row_b"))
    return sorted(set(pairs.select("row", "row_b").iter_rows()))


def share_matched(a: np.ndarray, b: np.ndarray, max_distance: int) -> float:
    """The share of ``a``'s frame hashes that have one in ``b`` within ``max_distance`` bits."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    return float(np.mean(hamming(a[:, None], b[None, :]).min(axis=1) <= max_distance))


class NearDuplicateVideos(Stage[pl.DataFrame, pa.Table]):
    name = "near_duplicate_videos"
    version = 1
    Params = NearDuplicateParams
    inputs = ("frames",)
    columns = NEAR_DUPLICATES_SCHEMA

    def process(self, videos: pl.DataFrame) -> pa.Table:
        hashes = [hash_ints(h) for h in videos["frame_phashes"].to_list()]
        parent = list(range(videos.height))
        for i, j in candidate_pairs(hashes):
            if self.near_duplicates(hashes[i], hashes[j]):
                parent[_root(parent, j)] = _root(parent, i)
        groups: dict[int, list[int]] = {}
        for i in range(videos.height):
            groups.setdefault(_root(parent, i), []).append(i)
        rows = videos.with_row_index("row").to_dicts()
        flagged = {}
        for members in groups.values():
            best = min(members, key=lambda i: _preference(rows[i]))
            flagged |= {rows[i]["video_id"]: rows[best]["video_id"] for i in members if i != best}
        ids = videos["video_id"].to_list()
        return pa.table({"video_id": ids, "near_duplicate_of": [flagged.get(v) for v in ids]}, schema=NEAR_DUPLICATES_SCHEMA)

    def near_duplicates(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether videos with these frame hashes match both ways."""
        limit = self.params.max_distance
        return min(share_matched(a, b, limit), share_matched(b, a, limit)) >= self.params.min_share


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _preference(row: dict) -> tuple:
    """Sort key of a group's representative: not a fake, most pixels, largest file, first uri."""
    return (row["original"] is not None, -(row["pixels"] or 0), -(row["size_bytes"] or 0), row["uri"])
