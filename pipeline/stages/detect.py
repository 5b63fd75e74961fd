"""The detect stage: sampled frames of one video -> its face detections.

Work folder ``work/<video_id>/detect-<fingerprint>/``: ``detections.parquet``,
``video.json`` (the video's row: probe fields, status, counts), ``_DONE``.
A failed input gets the same three files, with status ``failed``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.detection import Detection, Detector, DetectorConfig, make_detector
from pipeline.detection.versions import detector_version
from pipeline.fingerprint import code_version, fingerprint
from pipeline.probe import ProbeInfo
from pipeline.sampling import Frame, SampleSpec
from pipeline.stages import workdir
from schemas.manifests import DETECTIONS_SCHEMA, SCHEMA_VERSION

CODE_MODULES = (
    "pipeline.probe",
    "pipeline.sampling",
    "pipeline.detection.base",
    "pipeline.detection.centerface",
    "pipeline.detection.scrfd",
    "pipeline.stages.detect",
)


@dataclass(frozen=True)
class DetectResult:
    video: dict
    detections: pa.Table

    @property
    def ok(self) -> bool:
        return self.video["status"] == "ok"


class DetectStage:
    name = "detect"

    def __init__(self, out_dir: Path, sampling: SampleSpec, detector: DetectorConfig) -> None:
        self.out_dir = Path(out_dir)
        self.sampling = sampling
        self.config = detector
        self.detector_version = detector_version(detector)
        self.fingerprint = fingerprint(
            {
                "stage": self.name,
                "code": code_version(*CODE_MODULES),
                "schema": SCHEMA_VERSION,
                "sampling": sampling.text,
                "detector": [detector.name, self.detector_version, detector.score_threshold, detector.nms_iou, detector.det_max_side],
            }
        )
        self._detector: Detector | None = None
        self._lock = threading.Lock()
        self.frames_detected = 0

    @property
    def detector(self) -> Detector:
        # Loaded on first use: a run that needs no detection never loads the model.
        with self._lock:
            if self._detector is None:
                self._detector = make_detector(self.config)
            return self._detector

    @property
    def batch_frames(self) -> int:
        """Frames to hand the detector at once (loads it)."""
        return max(1, self.detector.batch_frames)

    def folder(self, video_id: str) -> Path:
        return workdir.work_dir(self.out_dir, video_id, self.name, self.fingerprint)

    def load(self, video_id: str) -> DetectResult | None:
        folder = self.folder(video_id)
        if not workdir.is_done(folder):
            return None
        return DetectResult(workdir.read_json(folder, "video.json"), workdir.read_table(folder, "detections.parquet"))

    def detect_frame(self, video_id: str, frame: Frame) -> list[dict]:
        return self.detect_frames(video_id, [frame])[0]

    def detect_frames(self, video_id: str, frames: list[Frame]) -> list[list[dict]]:
        """Detection rows of each frame; the frames go to the detector as one batch."""
        found = self.detector.detect_batch([frame.image_rgb for frame in frames])
        with self._lock:
            self.frames_detected += len(frames)
        return [[self._row(video_id, frame, i, det) for i, det in enumerate(dets)] for frame, dets in zip(frames, found)]

    def _row(self, video_id: str, frame: Frame, face_index: int, det: Detection) -> dict:
        width, height = frame.size_px
        return {
            "face_id": self.face_id(video_id, frame.pts_s, face_index),
            "video_id": video_id,
            "frame_index": frame.index,
            "pts_s": frame.pts_s,
            "frame_width_px": width,
            "frame_height_px": height,
            "face_index": face_index,
            "bbox_xyxy_px": list(det.bbox_xyxy_px),
            "det_score": det.score,
            "landmarks5_px": [v for point in det.landmarks5_px for v in point],
            "detector": self.config.name,
            "detector_version": self.detector_version,
            "sampling": self.sampling.text,
        }

    def face_id(self, video_id: str, pts_s: float, face_index: int) -> str:
        det = self.config
        key = f"{video_id}|{pts_s:.6f}|{self.detector_version}|{det.score_threshold}|{det.nms_iou}|{det.det_max_side}|{face_index}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def video_row(self, video_id: str, size_bytes: int | None, info: ProbeInfo | None, frames: int, faces: int) -> dict:
        row = {
            "video_id": video_id,
            "status": "ok",
            "error": None,
            "error_kind": None,
            "size_bytes": size_bytes,
            "sampling": self.sampling.text,
            "frames_sampled": frames,
            "faces_found": faces,
            "detector": self.config.name,
            "detector_version": self.detector_version,
            "detect_fingerprint": self.fingerprint,
        }
        if info is not None:
            width, height = info.display_size_px
            row.update(
                container=info.container,
                video_codec=info.video_codec,
                width_px=width,
                height_px=height,
                rotation_deg=info.rotation_deg,
                duration_s=info.duration_s,
                fps=info.fps,
                frame_count=info.frame_count,
                has_audio=info.has_audio,
                is_image=info.is_image,
            )
        return row

    def save(self, video: dict, rows: list[dict]) -> DetectResult:
        table = pa.Table.from_pylist(rows, schema=DETECTIONS_SCHEMA)
        workdir.save(self.folder(video["video_id"]), self.fingerprint, {"detections.parquet": table}, {"video.json": video})
        return DetectResult(video, table)

    def save_failure(self, video_id: str, size_bytes: int | None, error: Exception, kind: str) -> DetectResult:
        video = self.video_row(video_id, size_bytes, None, 0, 0)
        video.update(status="failed", error=str(error), error_kind=kind)
        return self.save(video, [])
