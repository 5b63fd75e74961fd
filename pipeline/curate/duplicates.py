"""The duplicates stage: within each track, near-identical crops -> one kept face, the others ``duplicate``.

Item: a table of faces with their track, status (after the filters), quality
score and crop pHash. Per track, the kept faces (status ``ok``) are taken best
first (``quality_score`` descending, then ``pts_s``, then ``face_id``); a face
whose crop hash is within ``max_distance`` bits of an already kept face's
becomes ``duplicate`` with ``duplicate_of`` that face's id, else it is kept.
Filtered faces keep their status. A static shot thus collapses to its best
face, while a moving one keeps a face each time its crop changes.
Measured at fps:2 (``tests/curate``): crops of one frame repeated for 3 s (x264)
differ in 0 bits; hamilton.mp4's close-up of a moving singer in 16-36 bits
between samples; its audience shot (people sitting still) in 4-20 bits, so the
default of 6 collapses only the stillest moments there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.curate.hashes import hamming, hash_ints
from pipeline.records import Status
from pipeline.stages.base import Stage

DUPLICATE_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
    ]
)


@dataclass(frozen=True)
class DuplicateParams:
    max_distance: int = CurateOptions().dup_max_distance


class DuplicateStage(Stage[pl.DataFrame, pa.Table]):
    name = "duplicates"
    version = 1
    Params = DuplicateParams
    inputs = ("tracks", "quality", "filter")
    columns = DUPLICATE_SCHEMA

    def process(self, faces: pl.DataFrame) -> pa.Table:
        kept = faces.filter(pl.col("status") == Status.OK.value).sort(
            ["track_id", "quality_score", "pts_s", "face_id"], descending=[False, True, False, False]
        )
        duplicate_of: dict[str, str] = {}
        for (_,), track in kept.group_by("track_id", maintain_order=True):
            duplicate_of.update(self._track(track["face_id"].to_list(), hash_ints(track["crop_phash"].to_list())))
        ids = faces["face_id"].to_list()
        return pa.table(
            {
                "face_id": ids,
                "status": [Status.DUPLICATE.value if f in duplicate_of else s for f, s in zip(ids, faces["status"].to_list())],
                "duplicate_of": [duplicate_of.get(f) for f in ids],
            },
            schema=DUPLICATE_SCHEMA,
        )

    def _track(self, face_ids: list[str], hashes: np.ndarray) -> dict[str, str]:
        """Duplicates of one track's kept faces (given best first): face_id -> the kept face it copies."""
        keepers: list[int] = []
        found = {}
        for i in range(len(face_ids)):
            if keepers:
                distance = hamming(hashes[keepers], hashes[i])
                nearest = int(np.argmin(distance))
                if distance[nearest] <= self.params.max_distance:
                    found[face_ids[i]] = face_ids[keepers[nearest]]
                    continue
            keepers.append(i)
        return found
