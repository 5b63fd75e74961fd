"""The training view (``facecorpus select``): at most N kept faces per track, best first, spread over the track.

Trainers sample a few faces per track (DFDC baselines; FaceForensics++ works on
tracked sequences). Per track, the candidates are its kept faces (``status =
ok``) whose ``quality_score`` is at least ``min_quality``, from videos not
flagged ``near_duplicate_of`` another (unless asked). With at most
``per_track`` candidates all are taken; otherwise the track's time span is cut
into ``per_track`` equal parts and the best face of each part is taken (parts
with no candidate leave their place to the best faces not yet taken), so the
selection covers the track rather than its single best moment. The view is
faces.parquet's rows of the selected faces plus ``rank_in_track`` (0 = best),
sorted by video, track, rank.

Groups (Curation II): ``split`` keeps the faces whose ``split_assigned`` is it;
``min_identity_faces`` keeps identities with at least that many kept faces in
the dataset; ``balanced_pairs`` selects from the fake faces paired with a kept
original face (one fake per original face, the best), then adds each one's
original face (ranked as its fake): as many real faces as fake, pair by pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import SelectOptions
from pipeline.fsutil import atomic_write_bytes, table_bytes
from pipeline.records import Status
from pipeline.stages.base import Stage
from schemas.manifests import FACES_MANIFEST, SELECTION_MANIFEST, SELECTION_SCHEMA, VIDEOS_MANIFEST

_DEFAULTS = SelectOptions()


@dataclass(frozen=True)
class SelectParams:
    per_track: int = _DEFAULTS.per_track
    min_quality: float = _DEFAULTS.min_quality
    near_duplicate_videos: bool = _DEFAULTS.near_duplicate_videos
    split: str | None = _DEFAULTS.split
    min_identity_faces: int = _DEFAULTS.min_identity_faces
    balanced_pairs: bool = _DEFAULTS.balanced_pairs

    @classmethod
    def of(cls, select: SelectOptions) -> SelectParams:
        return cls(
            select.per_track,
            select.min_quality,
            select.near_duplicate_videos,
            select.split,
            select.min_identity_faces,
            select.balanced_pairs,
        )


def spread_pick(pts_s: np.ndarray, quality: np.ndarray, count: int) -> list[int]:
    """Indices of at most ``count`` faces, best first: the best of each of ``count`` equal
    parts of the time span, then the best of the rest while places are left."""
    order = sorted(range(len(pts_s)), key=lambda i: (-quality[i], pts_s[i]))
    if len(order) <= count:
        return order
    start, span = float(pts_s.min()), float(pts_s.max() - pts_s.min())
    part = np.minimum(((pts_s - start) / span * count).astype(int), count - 1) if span > 0 else np.zeros(len(pts_s), int)
    picked, parts_taken = [], set()
    for i in order:
        if part[i] not in parts_taken:
            picked.append(i)
            parts_taken.add(part[i])
    picked += [i for i in order if i not in picked][: count - len(picked)]
    return sorted(picked[:count], key=lambda i: (-quality[i], pts_s[i]))


class SelectStage(Stage[pl.DataFrame, pa.Table]):
    name = "select"
    version = 1
    Params = SelectParams
    inputs = ("faces", "videos")
    columns = SELECTION_SCHEMA

    def process(self, faces: pl.DataFrame) -> pa.Table:
        """``faces``: faces.parquet's rows with the video's ``near_duplicate_of``."""
        candidates = self._candidates(faces)
        if self.params.balanced_pairs:
            fakes = candidates.filter(pl.col("original_face_id").is_in(candidates["face_id"].implode()))
            best = fakes.sort("quality_score", "face_id", descending=[True, False]).unique("original_face_id", keep="first")
            return self._with_originals(self._per_track(best), candidates)
        return self._per_track(candidates)

    def _candidates(self, faces: pl.DataFrame) -> pl.DataFrame:
        ok = pl.col("status") == Status.OK.value
        candidates = faces.filter(ok & (pl.col("quality_score") >= self.params.min_quality))
        if not self.params.near_duplicate_videos:
            candidates = candidates.filter(pl.col("near_duplicate_of").is_null())
        if self.params.split is not None:
            candidates = candidates.filter(pl.col("split_assigned") == self.params.split)
        if self.params.min_identity_faces > 0:
            counts = faces.filter(ok).drop_nulls("identity_id").group_by("identity_id").len()
            known = counts.filter(pl.col("len") >= self.params.min_identity_faces)["identity_id"].implode()
            candidates = candidates.filter(pl.col("identity_id").is_in(known))
        return candidates

    def _with_originals(self, fakes: pa.Table, candidates: pl.DataFrame) -> pa.Table:
        chosen = pl.from_arrow(fakes)
        ranks = chosen.select(pl.col("original_face_id").alias("face_id"), "rank_in_track")
        originals = candidates.join(ranks, on="face_id", how="inner")
        view = pl.concat([chosen, originals.select(chosen.columns)]).sort("video_id", "track_id", "rank_in_track", "face_id")
        return view.to_arrow().select(SELECTION_SCHEMA.names).cast(SELECTION_SCHEMA)

    def _per_track(self, candidates: pl.DataFrame) -> pa.Table:
        chosen = []
        for (_,), track in candidates.sort("track_id", "pts_s", "face_id").group_by("track_id", maintain_order=True):
            picks = spread_pick(track["pts_s"].to_numpy(), track["quality_score"].to_numpy(), self.params.per_track)
            chosen.append(track[picks].with_columns(rank_in_track=pl.int_range(len(picks), dtype=pl.Int32)))
        view = pl.concat(chosen) if chosen else candidates.head(0).with_columns(rank_in_track=pl.lit(0, pl.Int32))
        return view.sort("video_id", "track_id", "rank_in_track").to_arrow().select(SELECTION_SCHEMA.names).cast(SELECTION_SCHEMA)


def write_selection(select: SelectOptions) -> pa.Table:
    """Read the dataset's manifests, select, write ``<out>/selection.parquet`` (unchanged bytes are not rewritten)."""
    dataset = Path(select.dataset)
    for name in (FACES_MANIFEST, VIDEOS_MANIFEST):
        if not (dataset / name).is_file():
            raise ValueError(f"{dataset}: no {name}; is this a dataset folder?")
    faces = pl.from_arrow(pq.read_table(dataset / FACES_MANIFEST))
    videos = pl.from_arrow(pq.read_table(dataset / VIDEOS_MANIFEST, columns=["video_id", "near_duplicate_of"]))
    view = SelectStage(SelectParams.of(select))(faces.join(videos, on="video_id", how="left", maintain_order="left"))
    atomic_write_bytes(Path(select.out) / SELECTION_MANIFEST, table_bytes(view), skip_if_same=True)
    return view
