"""One video through detect and align, decoding its frames once.

:class:`VideoJob` is the stage the runs drive: it reuses whatever each stage has
already finished for the video (same fingerprint), detects only when the detect
stage has no result, aligns from stored detections when only alignment changed,
and records bad inputs as failed rows (the :class:`~pipeline.stage.Stage` base
keeps retries, stats and errors).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.errors import MediaError
from pipeline.extract import ExtractConfig
from pipeline.probe import ProbeInfo, probe
from pipeline.sampling import Deadline, Frame, iter_frames, prefetch
from pipeline.snapshot import VideoInput
from pipeline.stage import Stage
from pipeline.stages.align import AlignStage
from pipeline.stages.detect import DetectResult, DetectStage

# Frames decoded ahead of detection (each a full-resolution RGB frame: 6 MB at 1080p).
PREFETCH_FRAMES = 2


@dataclass(frozen=True)
class VideoOutcome:
    """A video's stage results; ``detected``/``aligned`` say what ran in this call."""

    video: dict
    detections: pa.Table
    crops: pa.Table | None
    detected: bool = False
    aligned: bool = False
    frames_decoded: int = 0

    @property
    def skipped(self) -> bool:
        return not (self.detected or self.aligned)


class VideoJob(Stage[VideoInput, VideoOutcome]):
    name = "video"

    def __init__(
        self,
        out_dir: Path,
        config: ExtractConfig,
        timeout_s: float | None = None,
        retries: int = 2,
        backoff_s: float = 0.5,
        detect_root: Path | None = None,
        align: bool = True,
    ) -> None:
        """``out_dir`` holds the align work, crops and manifests; ``detect_root`` the
        detect work (default ``out_dir``; separate for DVC, whose stage outputs may
        not overlap). ``align=False`` runs the detect stage only."""
        super().__init__(retries=retries, backoff_s=backoff_s)
        self.config = config
        self.timeout_s = timeout_s
        self.with_align = align
        self.detect = DetectStage(detect_root or out_dir, config.sampling, config.detector)
        self.align = AlignStage(out_dir, config.align, config.crop_format, config.crop_quality, self.detect.fingerprint)
        self._counts_lock = threading.Lock()
        self.videos_detected = 0
        self.videos_aligned = 0

    def skip(self, item: VideoInput) -> VideoOutcome | None:
        det = self.detect.load(item.video_id)
        if det is None:
            return None
        if not det.ok or not self.with_align:
            return VideoOutcome(self._video(det), det.detections, None)
        crops = self.align.load(item.video_id)
        return None if crops is None else VideoOutcome(self._video(det), det.detections, crops)

    def process(self, item: VideoInput) -> VideoOutcome:
        if item.problem:
            raise MediaError(item.problem)
        det = self.detect.load(item.video_id)
        if det is not None and det.detections.num_rows == 0:
            return self._finish(det, [], detected=False, frames=0)
        # The model loads (once per process) before the clock starts: the timeout is the decoder's.
        batch_frames = self.detect.batch_frames if det is None else 1
        deadline = Deadline.after(self.timeout_s) if self.timeout_s else None
        info = probe(item.entry.path)
        stored = _by_frame(det.detections) if det is not None else None
        detections, crops, frames = self._frames_through(item, info, stored, batch_frames, deadline)
        if det is None:
            det = self.detect.save(self.detect.video_row(item.video_id, item.size_bytes, info, frames, len(detections)), detections)
        elif frames != det.video["frames_sampled"]:
            raise MediaError(f"{item.entry.uri}: decoded {frames} frames, detections were made on {det.video['frames_sampled']}")
        if not self.with_align:
            with self._counts_lock:
                self.videos_detected += 1
            return VideoOutcome(self._video(det), det.detections, None, detected=True, frames_decoded=frames)
        return self._finish(det, crops, detected=stored is None, frames=frames)

    def _frames_through(
        self, item: VideoInput, info: ProbeInfo, stored: dict[int, list[dict]] | None, batch_frames: int, deadline: Deadline | None
    ) -> tuple[list[dict], list[dict], int]:
        """Decode the sampled frames (ahead, on a thread) and run them, ``batch_frames`` at a
        time, through detect (unless ``stored`` holds the detections) and align;
        (new detections, crops, frames decoded)."""
        detections, crops, frames = [], [], 0
        decoded = prefetch(iter_frames(item.entry.path, self.config.sampling, info, deadline), PREFETCH_FRAMES)
        with contextlib.closing(decoded):
            for batch in _batches(decoded, batch_frames):
                frames += len(batch)
                rows = self.detect.detect_frames(item.video_id, batch) if stored is None else [stored.get(f.index, []) for f in batch]
                if stored is None:
                    detections += [row for frame_rows in rows for row in frame_rows]
                if self.with_align:
                    crops += [c for frame, frame_rows in zip(batch, rows) if frame_rows for c in self.align.align_frame(frame, frame_rows)]
        return detections, crops, frames

    def failed(self, item: VideoInput, error: Exception, kind: str) -> VideoOutcome:
        det = self.detect.save_failure(item.video_id, item.size_bytes, error, kind)
        return VideoOutcome(self._video(det), det.detections, None)

    def _finish(self, det: DetectResult, crop_rows: list[dict], detected: bool, frames: int) -> VideoOutcome:
        crops = self.align.save(det.video["video_id"], crop_rows)
        with self._counts_lock:
            self.videos_detected += detected
            self.videos_aligned += 1
        return VideoOutcome(self._video(det), det.detections, crops, detected=detected, aligned=True, frames_decoded=frames)

    def _video(self, det: DetectResult) -> dict:
        preset = self.config.align.text
        fingerprint = self.align.fingerprint if det.ok else ""
        return {**det.video, "preset": preset, "align_fingerprint": fingerprint}


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _by_frame(detections: pa.Table) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in detections.to_pylist():
        grouped.setdefault(row["frame_index"], []).append(row)
    return grouped
