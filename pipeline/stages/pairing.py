"""Pair-aware extraction: a fake that names its original reuses the original's detections.

In a DFDC-style corpus most videos are fakes of a few originals, with the same
frame count, size and frame timing. When a fake is *frame-aligned* with its
original, the video pass takes the original's sampled frames' detections (boxes,
landmarks, hence the same affines) for the fake's frames instead of running the
detector: its crops are warped from the fake's own frames with the original's
affine, so every fake crop has a pixel-aligned twin (``original_face_id`` exact).

Aligned means, checked and not assumed: the same frame count, displayed frame
size, average frame rate and duration (within a frame; from the probe), the same number of sampled frames, each at the same time
from its stream's first sampled frame (within ``PTS_TOLERANCE_FRAMES`` of a frame),
and the same content: each sampled frame's 64-bit pHash within
``CONTENT_MAX_BITS`` of the original's. A flipped, cropped, re-timed or
different-length fake fails one of them and falls back to its own detection,
with the reason (``videos.pair_mode`` / ``pair_reason``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import imagehash
import pyarrow as pa

from pipeline.media.ffmpeg import Frame
from pipeline.records import DetectionRecord, MediaInfo
from pipeline.stages.frames import phash_hex, thumbnail

# Bump when what an aligned fake's detect work holds changes (dvc.yaml's detect stage reads it).
PAIRING_VERSION = 1
ALIGNED = "aligned"
OWN_DETECTION = "own_detection"
# A fake frame is at its original frame's time when their times from each stream's first sampled
# frame differ by at most this share of a frame period (a re-timed copy drifts by whole frames).
PTS_TOLERANCE_FRAMES = 0.25
# Measured on hamilton (2 s, fps:2, each fake re-encoded with x264): the frames' pHash distance to the
# original's is 2-4 bits for a hue shift, 0-2 for a blur of the whole frame, 30-32 for a horizontal flip
# (unrelated frames: ~32). A face swap changes a small part of the frame, so 12 bits separates a changed
# face from different content with room on both sides.
CONTENT_MAX_BITS = 12
# Average frame rates that differ by more than this share: a re-timed copy (same frames, other times).
FPS_TOLERANCE = 0.001


class NotAligned(Exception):
    """A fake is not frame-aligned with its original: the message is the reason (``pair_reason``)."""


@dataclass(frozen=True)
class OriginalWork:
    """The original's stored work a fake reuses: its detections by frame index, its sampled frames'
    times (from the first) and pHashes, and its media."""

    video_id: str
    detections: dict[int, list[DetectionRecord]]
    times_s: tuple[float, ...]
    phashes: tuple[str, ...]
    media: MediaInfo

    @classmethod
    def of(cls, video_id: str, detections: dict[int, list[DetectionRecord]], frames: pa.Table, media: MediaInfo) -> OriginalWork:
        columns = (frames.column(name).to_pylist() for name in ("frame_index", "pts_s", "frame_phash"))
        rows = sorted(zip(*columns))
        first = rows[0][1] if rows else 0.0
        return cls(video_id, detections, tuple(t - first for _, t, _ in rows), tuple(h for _, _, h in rows), media)

    def media_mismatch(self, fake: MediaInfo) -> str | None:
        """Why the fake's probed media cannot be aligned with the original's, or None."""
        if fake.is_image or self.media.is_image:
            return "a still image is not paired by frames"
        if (fake.width_px, fake.height_px) != (self.media.width_px, self.media.height_px):
            return f"frame size {fake.width_px}x{fake.height_px} differs from the original's {self.media.width_px}x{self.media.height_px}"
        if fake.frame_count != self.media.frame_count:
            return f"{fake.frame_count} frames against the original's {self.media.frame_count}"
        period = 1.0 / self.media.fps if self.media.fps else 0.0
        if abs(fake.fps - self.media.fps) > FPS_TOLERANCE * self.media.fps or abs(fake.duration_s - self.media.duration_s) > period:
            original = f"{self.media.fps:.3f} over {self.media.duration_s:.3f}"
            return f"re-timed: {fake.fps:.3f} fps over {fake.duration_s:.3f} s against the original's {original}"
        return None


@dataclass
class FrameAligner:
    """Checks each decoded fake frame against the original's frame of the same index and gives the
    original's detections re-keyed to the fake (``face_id`` from the fake's video and time)."""

    original: OriginalWork
    face_id: Callable[[str, float, int, str], str]  # DetectStage.face_id: (video_id, pts_s, face_index, origin) -> face_id
    first_pts_s: float | None = None
    frames: int = 0

    def detections(self, video_id: str, frame: Frame, phash: str | None = None) -> list[DetectionRecord]:
        """The original's detections of this frame, re-keyed (``phash``: the frame's, when already taken)."""
        self.check(frame, phash)
        origin = self.original.video_id
        return [
            replace(r, face_id=self.face_id(video_id, frame.pts_s, r.face_index, origin), video_id=video_id, pts_s=frame.pts_s)
            for r in self.original.detections.get(frame.index, [])
        ]

    def check(self, frame: Frame, phash: str | None = None) -> None:
        """Raise :class:`NotAligned` naming the first difference of this frame."""
        k = self.frames
        self.frames += 1
        if k >= len(self.original.times_s):
            raise NotAligned(f"more sampled frames than the original's {len(self.original.times_s)}")
        if self.first_pts_s is None:
            self.first_pts_s = frame.pts_s
        period = 1.0 / self.original.media.fps if self.original.media.fps else 0.0
        drift = (frame.pts_s - self.first_pts_s) - self.original.times_s[k]
        if abs(drift) > PTS_TOLERANCE_FRAMES * period + 1e-6:
            raise NotAligned(f"sampled frame {k} is {drift:+.3f} s off the original's time")
        bits = content_distance(frame, self.original.phashes[k], phash)
        if bits > CONTENT_MAX_BITS:
            raise NotAligned(f"sampled frame {k} differs from the original's in content ({bits} of 64 pHash bits: flipped, cropped, other)")

    def finish(self) -> None:
        if self.frames != len(self.original.times_s):
            raise NotAligned(f"{self.frames} sampled frames against the original's {len(self.original.times_s)}")


def content_distance(frame: Frame, original_phash: str, phash: str | None = None) -> int:
    """pHash bits (of 64) between a frame (``phash``: its hash, when taken) and the original frame's stored
    pHash (the frames stage's hash)."""
    mine = phash or phash_hex(cv2.cvtColor(thumbnail(frame.image_rgb), cv2.COLOR_RGB2GRAY))
    return int(imagehash.hex_to_hash(mine) - imagehash.hex_to_hash(original_phash))


@dataclass(frozen=True)
class PairDecision:
    """How a video's faces are found: ``mode`` None (it names no original), ``aligned`` (with
    ``aligner``) or ``own_detection`` (``reason`` says why). ``original_id``: the original the decision
    was made against; None when made for a reason of the run (option off, original not stored yet)."""

    mode: str | None = None
    reason: str | None = None
    original_id: str | None = None
    aligner: FrameAligner | None = None

    @classmethod
    def own(cls, reason: str, original_id: str | None = None) -> PairDecision:
        return cls(OWN_DETECTION, reason, original_id)

    @property
    def fields(self) -> dict[str, str | None]:
        """The detect record's pair fields."""
        return {"pair_mode": self.mode, "pair_reason": self.reason, "pair_original_id": self.original_id}
