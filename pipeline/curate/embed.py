"""The embed stage: a video's tracks -> identity vectors of each track's best faces, stored once.

dlib's descriptor costs about 100 ms per face on this CPU, so a track is
embedded by its ``per_track`` best faces by ``quality_score`` (then earliest),
whatever their filter status: the choice depends on stored scores only, so a
filter threshold changed later never embeds again. The faces are read from the
crop files the align stage wrote (``pipeline/embedding/``), nothing is decoded.
Stored per video in ``curation/<video_id>/embed-<fingerprint>/embeddings.parquet``;
the fingerprint holds the embedder's name, label and model file sha256, K, and the
fingerprints of detect, align, quality and tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.detection.base import DEFAULT_MODELS_ROOT
from pipeline.embedding.base import DEFAULT_ARCFACE_PACK, DEFAULT_EMBEDDER, EmbedderConfig, face_in_crop
from pipeline.embedding.options import DEFAULT_PER_TRACK
from pipeline.embedding.registry import Embedder, embedder_identity, make_embedder
from pipeline.records import NOT_OUTPUT
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from schemas.manifests import CROPS_SCHEMA, DETECTIONS_SCHEMA, embeddings_schema

EMBEDDINGS_FILE = "embeddings.parquet"


@dataclass(frozen=True)
class EmbedParams:
    embedder: str = DEFAULT_EMBEDDER
    per_track: int = DEFAULT_PER_TRACK
    models_root: str = field(default=DEFAULT_MODELS_ROOT, metadata=NOT_OUTPUT)
    model_pack: str = field(default=DEFAULT_ARCFACE_PACK, metadata=NOT_OUTPUT)

    def config(self) -> EmbedderConfig:
        return EmbedderConfig(self.embedder, self.models_root, self.model_pack)


@dataclass(frozen=True)
class VideoEmbedInput:
    """A video's faces with their crops, stored scores and tracks: the embed stage's item."""

    video_id: str
    detections: pa.Table
    crops: pa.Table
    quality: pa.Table
    tracks: pa.Table


def best_per_track(faces: pl.DataFrame, per_track: int) -> pl.DataFrame:
    """Each track's ``per_track`` best faces by quality_score (then earliest, then face_id)."""
    ranked = faces.sort(["track_id", "quality_score", "pts_s", "face_id"], descending=[False, True, False, False])
    return ranked.group_by("track_id", maintain_order=True).head(per_track)


class EmbedStage(workdir.PerVideoTable, Stage[VideoEmbedInput, pa.Table]):
    name = "embed"
    version = 1
    Params = EmbedParams
    inputs = ("detect", "align", "quality", "tracks")
    columns = embeddings_schema(128)  # the default embedder's width (dlib); arcface's is 512: ``schema``
    work_file = EMBEDDINGS_FILE
    work_folder = workdir.CURATION_DIR

    def __init__(self, params: EmbedParams, dataset_dir: Path, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.dataset_dir = self.work_root = Path(dataset_dir)
        self.identity = embedder_identity(params.config())  # raises naming the path when the model is absent
        self._embedder: Embedder | None = None

    def model_hash(self) -> str | None:
        return f"{self.identity.name}:{self.identity.label}:{self.identity.model_sha256}"

    def setup(self) -> None:
        self._embedder = make_embedder(self.params.config())

    def process(self, item: VideoEmbedInput) -> pa.Table:
        faces = (
            pl.from_arrow(item.detections.cast(DETECTIONS_SCHEMA))
            .join(pl.from_arrow(item.crops.cast(CROPS_SCHEMA)), on="face_id")
            .join(pl.from_arrow(item.quality).select("face_id", "quality_score"), on="face_id")
            .join(pl.from_arrow(item.tracks).select("face_id", "track_id"), on="face_id")
        )
        chosen = best_per_track(faces, self.params.per_track).sort("face_id")
        crops = [self._face(item.video_id, row) for row in chosen.select("crop_path", "affine_2x3", "bbox_xyxy_px", "landmarks5_px").rows()]
        vectors = self._embedder.embed(crops) if crops else np.zeros((0, self._embedder.dim), np.float32)
        schema = embeddings_schema(self._embedder.dim)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        return pa.table(
            [
                pa.array(chosen["face_id"].to_list(), pa.string()),
                pa.array([self.identity.version] * len(crops), pa.string()),
                pa.FixedSizeListArray.from_arrays(flat, self._embedder.dim),
            ],
            schema=schema,
        )

    def _face(self, video_id: str, row: tuple):
        crop_path, affine, box, landmarks = row
        path = self.dataset_dir / crop_path
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: crop file missing or unreadable (remove work/{video_id}/align-*/ and rerun to write it again)")
        return face_in_crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), affine, box, landmarks)
