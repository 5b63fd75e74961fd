"""The align stage: a sampled frame and its detections -> one aligned crop per face.

Crops are encoded and written to content-derived paths
(``pipeline.alignment.crops.crop_path``) under the dataset folder; the video's
crop records go to the work folder ``work/<video_id>/align-<fingerprint>/``
(``crops.parquet`` and ``_DONE``). The fingerprint includes the detect stage's,
so new detections mean new crops; a changed preset reruns this stage only, from
the stored detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.alignment.crops import CropFormat, crop_path, encode_crop, warp
from pipeline.alignment.presets import AlignConfig, estimate_affine
from pipeline.fsutil import atomic_write_bytes, sha256_bytes
from pipeline.media.ffmpeg import Frame
from pipeline.records import CropRecord, DetectionRecord, to_table
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from schemas.manifests import CROPS_SCHEMA

CROPS_FILE = "crops.parquet"


@dataclass(frozen=True)
class AlignParams:
    align: AlignConfig
    crop: CropFormat


@dataclass(frozen=True)
class FrameFaces:
    """A decoded frame and the faces detected on it: the align stage's item."""

    frame: Frame
    detections: tuple[DetectionRecord, ...]


class AlignStage(workdir.PerVideoTable, Stage[FrameFaces, list[CropRecord]]):
    name = "align"
    version = 1
    Params = AlignParams
    inputs = ("detect",)
    columns = CROPS_SCHEMA
    work_file = CROPS_FILE

    def __init__(self, params: AlignParams, out_dir: Path, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.out_dir = self.work_root = Path(out_dir)

    def process(self, item: FrameFaces) -> list[CropRecord]:
        return [self._crop(item.frame, det) for det in item.detections]

    def _crop(self, frame: Frame, det: DetectionRecord) -> CropRecord:
        config, fmt = self.params.align, self.params.crop
        size = config.output_size_px
        # Fit on the float32 landmarks the manifest stores, so refitting from it gives this affine.
        landmarks = np.asarray(det.landmarks5_px, dtype=np.float32).astype(np.float64).reshape(5, 2)
        affine = estimate_affine(landmarks, config)
        data = encode_crop(warp(frame.image_rgb, affine, size), fmt)
        crop_sha = sha256_bytes(data)
        path = crop_path(crop_sha, fmt.format)
        atomic_write_bytes(self.out_dir / path, data, skip_if_same=True)
        return CropRecord(det.face_id, config.text, size, tuple(float(v) for v in affine.ravel()), path, crop_sha)

    def save_crops(self, video_id: str, records: list[CropRecord]) -> pa.Table:
        """Store the video's crop records in its work folder."""
        return self.save(video_id, to_table(records, CROPS_SCHEMA))
