"""Per-face measures for the dataset's distributions (the DVC align stage's plots).

The smallest stage of the pipeline, and the example of the contract: one face
row in, one :class:`FaceMeasure` out. Size is the box's shorter side; the yaw
proxy is the nose's offset from the eye midpoint over the eye distance (0
frontal, about 1 in profile); sharpness is the variance of the crop's Laplacian
(low: blurred).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.records import FaceRecord
from pipeline.stages.base import Stage
from schemas.manifests import MEASURES_SCHEMA


@dataclass(frozen=True)
class FaceMeasure:
    """One row of ``MEASURES_SCHEMA``."""

    face_id: str
    face_size_px: float
    det_score: float
    yaw_proxy: float
    sharpness: float


class FaceMeasures(Stage[FaceRecord, FaceMeasure]):
    name = "measures"
    version = 1
    inputs = ("faces",)
    columns = MEASURES_SCHEMA

    def __init__(self, dataset_dir: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dataset_dir = Path(dataset_dir)

    def process(self, face: FaceRecord) -> FaceMeasure:
        x1, y1, x2, y2 = face.bbox_xyxy_px
        eyes, nose = np.reshape(face.landmarks5_px[:4], (2, 2)), face.landmarks5_px[4]
        yaw = abs(nose - eyes[:, 0].mean()) / max(float(np.linalg.norm(eyes[1] - eyes[0])), 1e-6)
        grey = cv2.imread(str(self.dataset_dir / face.crop_path), cv2.IMREAD_GRAYSCALE)
        sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
        return FaceMeasure(face.face_id, min(x2 - x1, y2 - y1), float(face.det_score), yaw, sharpness)
