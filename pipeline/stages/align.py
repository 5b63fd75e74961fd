"""The align stage: a video's detections + its frames -> aligned crops.

Work folder ``work/<video_id>/align-<fingerprint>/``: ``crops.parquet`` (one row
per face: preset, affine, crop path and sha256) and ``_DONE``. Crops are written to
content-derived paths ``crops/<sha[:2]>/<sha256>.<ext>`` under the dataset folder.
The fingerprint includes the detect stage's, so new detections mean new crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.alignment import AlignConfig, encode_crop, estimate_affine, warp
from pipeline.fingerprint import code_version, fingerprint
from pipeline.fsutil import atomic_write_bytes, sha256_bytes
from pipeline.sampling import Frame
from pipeline.stages import workdir
from schemas.manifests import CROPS_SCHEMA, SCHEMA_VERSION

CROPS_DIR = "crops"
CROP_FORMATS = ("png", "jpg", "webp")
CODE_MODULES = ("pipeline.alignment", "pipeline.stages.align")


class AlignStage:
    name = "align"

    def __init__(self, out_dir: Path, align: AlignConfig, crop_format: str, crop_quality: int, detect_fingerprint: str) -> None:
        if crop_format not in CROP_FORMATS:
            raise ValueError(f"unknown crop format {crop_format!r}; choose one of {', '.join(CROP_FORMATS)}")
        self.out_dir = Path(out_dir)
        self.config = align
        self.crop_format = crop_format
        self.crop_quality = crop_quality
        self.fingerprint = fingerprint(
            {
                "stage": self.name,
                "code": code_version(*CODE_MODULES),
                "schema": SCHEMA_VERSION,
                "input": detect_fingerprint,
                "align": align.text,
                "crop": [crop_format, crop_quality if crop_format != "png" else None],
            }
        )

    def folder(self, video_id: str) -> Path:
        return workdir.work_dir(self.out_dir, video_id, self.name, self.fingerprint)

    def load(self, video_id: str) -> pa.Table | None:
        folder = self.folder(video_id)
        return workdir.read_table(folder, "crops.parquet") if workdir.is_done(folder) else None

    def align_frame(self, frame: Frame, detections: list[dict]) -> list[dict]:
        return [self._crop(frame, det) for det in detections]

    def _crop(self, frame: Frame, det: dict) -> dict:
        size = self.config.output_size_px
        # Fit on the float32 landmarks the manifest stores, so refitting from it gives this affine.
        landmarks = np.asarray(det["landmarks5_px"], dtype=np.float32).astype(np.float64).reshape(5, 2)
        affine = estimate_affine(landmarks, self.config)
        data = encode_crop(warp(frame.image_rgb, affine, size), self.crop_format, self.crop_quality)
        crop_sha = sha256_bytes(data)
        crop_path = f"{CROPS_DIR}/{crop_sha[:2]}/{crop_sha}.{self.crop_format}"
        atomic_write_bytes(self.out_dir / crop_path, data, skip_if_same=True)
        return {
            "face_id": det["face_id"],
            "preset": self.config.text,
            "crop_size_px": size,
            "affine_2x3": [float(v) for v in affine.ravel()],
            "crop_path": crop_path,
            "crop_sha256": crop_sha,
        }

    def save(self, video_id: str, rows: list[dict]) -> pa.Table:
        table = pa.Table.from_pylist(rows, schema=CROPS_SCHEMA)
        workdir.save(self.folder(video_id), self.fingerprint, {"crops.parquet": table}, {})
        return table
