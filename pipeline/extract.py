"""The extraction stage: one video in, its sampled frames' faces and aligned crops out.

Work for a video lives in ``work/<video_id>/<fingerprint>/`` under the dataset
folder: ``faces.parquet``, ``video.json`` and, written last, the ``_DONE``
completion marker. A rerun skips a video whose marker exists for the same
fingerprint (same bytes, same parameters, same model) and redoes one without.
Crops go to content-derived paths ``crops/<sha[:2]>/<sha256>.<ext>``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.alignment import AlignConfig, encode_crop, estimate_affine, warp
from pipeline.corpus import CorpusEntry
from pipeline.detection import Detection, Detector, DetectorConfig, make_detector
from pipeline.detection.versions import detector_version
from pipeline.errors import MediaError
from pipeline.fsutil import atomic_write_bytes, sha256_bytes
from pipeline.probe import ProbeInfo, probe
from pipeline.sampling import Frame, SampleSpec, iter_frames
from pipeline.stage import Stage
from schemas.manifests import FACE_CORE_SCHEMA, SCHEMA_VERSION

WORK_DIR = "work"
CROPS_DIR = "crops"
DONE_MARKER = "_DONE"
CROP_FORMATS = ("png", "jpg", "webp")
PIPELINE_VERSION = "extract-1"


@dataclass(frozen=True)
class ExtractConfig:
    sampling: SampleSpec = field(default_factory=lambda: SampleSpec.parse("fps:1"))
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    crop_format: str = "png"
    crop_quality: int = 95

    def __post_init__(self) -> None:
        if self.crop_format not in CROP_FORMATS:
            raise ValueError(f"unknown crop format {self.crop_format!r}; choose one of {', '.join(CROP_FORMATS)}")

    def fingerprint(self, detector_version_text: str) -> str:
        """Hash of everything that shapes a video's outputs (the video's bytes aside)."""
        det = self.detector
        payload = {
            "pipeline": PIPELINE_VERSION,
            "schema": SCHEMA_VERSION,
            "sampling": self.sampling.text,
            "detector": [det.name, detector_version_text, det.score_threshold, det.nms_iou, det.det_max_side],
            "align": self.align.text,
            "crop": [self.crop_format, self.crop_quality if self.crop_format != "png" else None],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class VideoInput:
    """One distinct video (by content) and every corpus entry that holds it."""

    video_id: str
    entry: CorpusEntry
    duplicate_uris: tuple[str, ...] = ()
    size_bytes: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class VideoResult:
    video: dict
    faces: pa.Table
    skipped: bool = False


class ExtractStage(Stage[VideoInput, VideoResult]):
    name = "extract"

    def __init__(self, out_dir: Path, config: ExtractConfig) -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.config = config
        self.detector_version = detector_version(config.detector)
        self.fingerprint = config.fingerprint(self.detector_version)
        self._detector: Detector | None = None

    @property
    def detector(self) -> Detector:
        # Loaded on first use: a rerun that skips every video never loads the model.
        if self._detector is None:
            self._detector = make_detector(self.config.detector)
        return self._detector

    def work_dir(self, video_id: str) -> Path:
        return self.out_dir / WORK_DIR / video_id / self.fingerprint

    def skip(self, item: VideoInput) -> VideoResult | None:
        folder = self.work_dir(item.video_id)
        if not (folder / DONE_MARKER).is_file():
            return None
        video = json.loads((folder / "video.json").read_text(encoding="utf-8"))
        return VideoResult(video, pq.read_table(folder / "faces.parquet"), skipped=True)

    def process(self, item: VideoInput) -> VideoResult:
        if item.problem:
            raise MediaError(item.problem)
        info = probe(item.entry.path)
        rows: list[dict] = []
        frames = 0
        for frame in iter_frames(item.entry.path, self.config.sampling, info):
            frames += 1
            for face_index, det in enumerate(self.detector.detect(frame.image_rgb)):
                rows.append(self._face_row(item, frame, face_index, det))
        video = self._video_row(item, info, frames, len(rows))
        return self._save(item, video, rows)

    def failed(self, item: VideoInput, error: Exception) -> VideoResult:
        video = self._video_row(item, None, 0, 0)
        video.update(status="failed", error=str(error))
        return self._save(item, video, [])

    def _face_row(self, item: VideoInput, frame: Frame, face_index: int, det: Detection) -> dict:
        align = self.config.align
        # Fit on the float32 values the manifest stores, so a trainer refitting from the
        # manifest gets exactly the stored affine.
        landmarks = det.landmarks_array.astype(np.float32)
        affine = estimate_affine(landmarks.astype(np.float64), align)
        crop = warp(frame.image_rgb, affine, align.output_size_px)
        data = encode_crop(crop, self.config.crop_format, self.config.crop_quality)
        crop_sha = sha256_bytes(data)
        crop_path = f"{CROPS_DIR}/{crop_sha[:2]}/{crop_sha}.{self.config.crop_format}"
        atomic_write_bytes(self.out_dir / crop_path, data, skip_if_same=True)
        width, height = frame.size_px
        return {
            "face_id": self._face_id(item.video_id, frame.pts_s, face_index),
            "video_id": item.video_id,
            "uri": item.entry.uri,
            "frame_index": frame.index,
            "pts_s": frame.pts_s,
            "frame_width_px": width,
            "frame_height_px": height,
            "face_index": face_index,
            "bbox_xyxy_px": list(det.bbox_xyxy_px),
            "det_score": det.score,
            "landmarks5_px": landmarks.ravel().tolist(),
            "detector": self.config.detector.name,
            "detector_version": self.detector_version,
            "sampling": self.config.sampling.text,
            "preset": align.text,
            "crop_size_px": align.output_size_px,
            "affine_2x3": [float(v) for v in np.asarray(affine).ravel()],
            "crop_path": crop_path,
            "crop_sha256": crop_sha,
        }

    def _face_id(self, video_id: str, pts_s: float, face_index: int) -> str:
        det = self.config.detector
        key = f"{video_id}|{pts_s:.6f}|{self.detector_version}|{det.score_threshold}|{det.nms_iou}|{det.det_max_side}|{face_index}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def _video_row(self, item: VideoInput, info: ProbeInfo | None, frames: int, faces: int) -> dict:
        probe_fields: dict = {}
        if info is not None:
            width, height = info.display_size_px
            probe_fields = {
                "container": info.container,
                "video_codec": info.video_codec,
                "width_px": width,
                "height_px": height,
                "rotation_deg": info.rotation_deg,
                "duration_s": info.duration_s,
                "fps": info.fps,
                "frame_count": info.frame_count,
                "has_audio": info.has_audio,
                "is_image": info.is_image,
            }
        return {
            "video_id": item.video_id,
            "status": "ok",
            "error": None,
            "size_bytes": item.size_bytes,
            **probe_fields,
            "sampling": self.config.sampling.text,
            "frames_sampled": frames,
            "faces_found": faces,
            "detector": self.config.detector.name,
            "detector_version": self.detector_version,
            "preset": self.config.align.text,
            "fingerprint": self.fingerprint,
        }

    def _save(self, item: VideoInput, video: dict, rows: list[dict]) -> VideoResult:
        folder = self.work_dir(item.video_id)
        faces = pa.Table.from_pylist(rows, schema=FACE_CORE_SCHEMA)
        atomic_write_bytes(folder / "faces.parquet", table_bytes(faces))
        atomic_write_bytes(folder / "video.json", json.dumps(video, sort_keys=True, indent=1).encode())
        atomic_write_bytes(folder / DONE_MARKER, self.fingerprint.encode())
        return VideoResult(video, faces)


def table_bytes(table: pa.Table) -> bytes:
    """Parquet bytes of ``table``: same table, same bytes (no timestamps are written)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
