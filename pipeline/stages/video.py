"""The video pass: one video through the per-video stages (detect, align), decoding it once.

:class:`VideoPass` is the stage the runs drive, one item per distinct video. It
reuses whatever each stage has stored for the video under its current
fingerprint, runs the detector only when the detect stage has no result, aligns
from stored detections when only alignment changed, and records a bad input as a
failed detect result (so reruns skip it). Frames are decoded ahead on a thread
while the current one is detected and aligned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from pipeline.config import ExtractOptions
from pipeline.corpus.snapshot import VideoInput
from pipeline.errors import MediaError
from pipeline.media.ffmpeg import Deadline
from pipeline.media.prefetch import prefetch
from pipeline.media.probe import ProbeInfo, probe
from pipeline.media.sampling import iter_frames
from pipeline.records import CropRecord, DetectionRecord, DetectOutcome, ErrorKind, VideoRecord, group_by
from pipeline.stages.align import AlignParams, AlignStage, FrameFaces
from pipeline.stages.base import Stage
from pipeline.stages.detect import DetectParams, DetectResult, DetectStage, VideoFrame
from schemas.manifests import VIDEOS_SCHEMA

# Frames decoded ahead of detection (each a full-resolution RGB frame: 6 MB at 1080p).
PREFETCH_FRAMES = 2


@dataclass(frozen=True)
class VideoOutcome:
    """A video's results: its detect record and detections, and its crops (None when it
    failed, or when only the detect stage runs)."""

    detect: DetectOutcome
    detections: pa.Table
    crops: pa.Table | None
    preset: str
    align_fingerprint: str

    @property
    def ok(self) -> bool:
        return self.detect.ok

    def record(self, item: VideoInput) -> VideoRecord:
        """The video's ``videos.parquet`` row (the one place it is built)."""
        det, media = self.detect, self.detect.media
        return VideoRecord(
            video_id=det.video_id,
            uri=item.entry.uri,
            duplicate_uris=item.duplicate_uris,
            status=det.status,
            error=det.error,
            error_kind=det.error_kind,
            size_bytes=item.size_bytes,
            container=media and media.container,
            video_codec=media and media.video_codec,
            width_px=media and media.width_px,
            height_px=media and media.height_px,
            rotation_deg=media and media.rotation_deg,
            duration_s=media and media.duration_s,
            fps=media and media.fps,
            frame_count=media and media.frame_count,
            has_audio=media and media.has_audio,
            is_image=media and media.is_image,
            sampling=det.sampling,
            frames_sampled=det.frames_sampled,
            faces_found=det.faces_found,
            detector=det.detector,
            detector_version=det.detector_version,
            preset=self.preset,
            detect_fingerprint=det.detect_fingerprint,
            align_fingerprint=self.align_fingerprint if det.ok else "",
            **item.entry.fields,
        )


class VideoPass(Stage[VideoInput, VideoOutcome]):
    name = "video"
    version = 1
    inputs = ("detect", "align")
    columns = VIDEOS_SCHEMA

    def __init__(self, detect: DetectStage, align: AlignStage | None, timeout_s: float | None = None, **kwargs) -> None:
        """``align=None`` runs the detect stage only (the DVC detect stage)."""
        super().__init__(upstream={"detect": detect.fingerprint, **({"align": align.fingerprint} if align else {})}, **kwargs)
        self.detect = detect
        self.align = align
        self.timeout_s = timeout_s

    @classmethod
    def build(
        cls,
        extract: ExtractOptions,
        *,
        align: bool = True,
        threads: int = 0,
        timeout_s: float | None = None,
        retries: int = 0,
        backoff_s: float = 0.5,
    ) -> VideoPass:
        """The pass for ``extract``'s parameters: detect work under its detect folder,
        crops and align work under its dataset folder."""
        detect = DetectStage(DetectParams(extract.sampling(), extract.detector_config(threads)), extract.detect_dir)
        aligner = None
        if align:
            aligner = AlignStage(
                AlignParams(extract.align_config(), extract.crop_format_config()), extract.out_dir, upstream={"detect": detect.fingerprint}
            )
        return cls(detect, aligner, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self, self.detect, *((self.align,) if self.align else ()))

    def stored(self, item: VideoInput) -> VideoOutcome | None:
        """The video's finished results under the current fingerprints, or None (counts nothing)."""
        det = self.detect.load(item.video_id)
        if det is None:
            return None
        if not det.ok or self.align is None:
            return self._outcome(det, None)
        crops = self.align.load(item.video_id)
        return None if crops is None else self._outcome(det, crops)

    def reuse(self, item: VideoInput) -> VideoOutcome | None:
        done = self.stored(item)
        if done is not None:
            for stage in self.stages[1:]:
                stage.count(reused=1)
        return done

    def process(self, item: VideoInput) -> VideoOutcome:
        if item.problem:
            raise MediaError(item.problem)
        det = self.detect.load(item.video_id)
        if det is not None:
            self.detect.count(reused=1)
            if det.detections.num_rows == 0 or self.align is None:
                return self._outcome(det, None if self.align is None else self.align.save(item.video_id, []))
        info = probe(item.entry.path)
        # The model loads (once per process) before the clock starts: the timeout is the decoder's.
        self.detect.ready()
        deadline = Deadline.after(self.timeout_s) if self.timeout_s else None
        stored = group_by(det.records(), "frame_index") if det is not None else None
        detections, crops, frames = self._decode_through(item, info, stored, deadline)
        if det is None:
            det = self.detect.save(self.detect.outcome(item.video_id, info, frames, len(detections)), detections)
        elif frames != det.outcome.frames_sampled:
            raise MediaError(f"{item.entry.uri}: decoded {frames} frames, detections were made on {det.outcome.frames_sampled}")
        if self.align is None:
            return self._outcome(det, None)
        return self._outcome(det, self.align.save(item.video_id, crops))

    def _decode_through(
        self, item: VideoInput, info: ProbeInfo, stored: dict[int, list[DetectionRecord]] | None, deadline: Deadline | None
    ) -> tuple[list[DetectionRecord], list[CropRecord], int]:
        """Decode the sampled frames (ahead, on a thread); detect on each (unless ``stored``
        holds its detections) and align; (new detections, crops, frames decoded)."""
        detections: list[DetectionRecord] = []
        crops: list[CropRecord] = []
        frames = 0
        decoded: Iterator = prefetch(iter_frames(item.entry.path, self.detect.params.sampling, info, deadline), PREFETCH_FRAMES)
        with contextlib.closing(decoded):
            for frame in decoded:
                frames += 1
                self.count(frames=1)
                if stored is None:
                    found = self.detect(VideoFrame(item.video_id, frame))
                    detections += found
                else:
                    found = stored.get(frame.index, [])
                if self.align is not None and found:
                    crops += self.align(FrameFaces(frame, tuple(found)))
        return detections, crops, frames

    def failed(self, item: VideoInput, error: Exception, kind: ErrorKind) -> VideoOutcome:
        outcome = self.detect.outcome(item.video_id, None, 0, 0, error, kind)
        return self._outcome(self.detect.save(outcome, []), None)

    def _outcome(self, det: DetectResult, crops: pa.Table | None) -> VideoOutcome:
        preset = self.align.params.align.text if self.align else ""
        fingerprint = self.align.fingerprint if self.align else ""
        return VideoOutcome(det.outcome, det.detections, crops, preset, fingerprint)
