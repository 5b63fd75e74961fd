"""The detect stage: one sampled frame of a video -> its face detections.

The video pass (``pipeline/stages/video.py``) decodes each video once and hands
every sampled frame here, then stores the video's detections in the stage's work
folder ``work/<video_id>/detect-<fingerprint>/``: ``detections.parquet``,
``video.json`` (the :class:`~pipeline.records.DetectOutcome`: media fields,
status, counts) and ``_DONE``. A failed input gets the same files, with status
``failed``. ``face_id`` hashes the video, the frame's pts, the detector's
identity and output parameters, and the face's rank in the frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa

from pipeline.detection.base import Detection, Detector, DetectorConfig
from pipeline.detection.registry import detector_version, make_detector
from pipeline.media.ffmpeg import Frame
from pipeline.media.probe import ProbeInfo
from pipeline.media.spec import SampleSpec
from pipeline.records import DetectionRecord, DetectOutcome, ErrorKind, Status, from_table, to_table
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from schemas.manifests import DETECTIONS_SCHEMA

DETECTIONS_FILE = "detections.parquet"
VIDEO_FILE = "video.json"


@dataclass(frozen=True)
class DetectParams:
    sampling: SampleSpec
    detector: DetectorConfig


@dataclass(frozen=True)
class VideoFrame:
    """A sampled frame of one video: the detect stage's item."""

    video_id: str
    frame: Frame


@dataclass(frozen=True)
class DetectResult:
    """A video's stored detect work."""

    outcome: DetectOutcome
    detections: pa.Table

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def records(self) -> list[DetectionRecord]:
        return from_table(self.detections, DetectionRecord)


class DetectStage(Stage[VideoFrame, list[DetectionRecord]]):
    name = "detect"
    version = 1
    Params = DetectParams
    inputs = ("corpus",)
    columns = DETECTIONS_SCHEMA

    def __init__(self, params: DetectParams, work_root, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.work_root = work_root
        self.detector: Detector | None = None

    def setup(self) -> None:
        self.detector = make_detector(self.params.detector)

    def model_hash(self) -> str:
        return self.detector_version

    @property
    def detector_version(self) -> str:
        return detector_version(self.params.detector)

    def process(self, item: VideoFrame) -> list[DetectionRecord]:
        found = self.detector.detect(item.frame.image_rgb)
        return [self._record(item, index, det) for index, det in enumerate(found)]

    def _record(self, item: VideoFrame, face_index: int, det: Detection) -> DetectionRecord:
        frame = item.frame
        width, height = frame.size_px
        return DetectionRecord(
            face_id=self.face_id(item.video_id, frame.pts_s, face_index),
            video_id=item.video_id,
            frame_index=frame.index,
            pts_s=frame.pts_s,
            frame_width_px=width,
            frame_height_px=height,
            face_index=face_index,
            bbox_xyxy_px=det.bbox_xyxy_px,
            det_score=det.score,
            landmarks5_px=tuple(v for point in det.landmarks5_px for v in point),
            detector=self.params.detector.name,
            detector_version=self.detector_version,
            sampling=self.params.sampling.text,
        )

    def face_id(self, video_id: str, pts_s: float, face_index: int, origin: str | None = None) -> str:
        """``origin``: the original video whose detection a frame-aligned fake's face is (pair-aware
        extraction), so that a face found another way never carries the same id."""
        det = self.params.detector
        key = f"{video_id}|{pts_s:.6f}|{self.detector_version}|{det.score_threshold}|{det.nms_iou}|{det.det_max_side}|{face_index}"
        key += f"|from:{origin}" if origin else ""
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    # The stage's work folder, one per video.

    def folder(self, video_id: str):
        return workdir.work_dir(self.work_root, video_id, self.name, self.fingerprint)

    def load(self, video_id: str) -> DetectResult | None:
        folder = self.folder(video_id)
        if not workdir.is_done(folder):
            return None
        return DetectResult(DetectOutcome.from_json(workdir.read_json(folder, VIDEO_FILE)), workdir.read_table(folder, DETECTIONS_FILE))

    def outcome(
        self, video_id: str, info: ProbeInfo | None, frames: int, faces: int, error: Exception | None = None, kind: ErrorKind | None = None
    ) -> DetectOutcome:
        return DetectOutcome(
            video_id=video_id,
            status=Status.OK if error is None else Status.FAILED,
            error=None if error is None else str(error),
            error_kind=kind,
            sampling=self.params.sampling.text,
            frames_sampled=frames,
            faces_found=faces,
            detector=self.params.detector.name,
            detector_version=self.detector_version,
            detect_fingerprint=self.fingerprint,
            media=None if info is None else info.media_info(),
        )

    def save(self, outcome: DetectOutcome, records: list[DetectionRecord]) -> DetectResult:
        table = to_table(records, DETECTIONS_SCHEMA)
        workdir.save(self.folder(outcome.video_id), self.fingerprint, {DETECTIONS_FILE: table}, {VIDEO_FILE: outcome.to_json()})
        self.count(saved=int(outcome.ok))
        return DetectResult(outcome, table)
