"""The frame signatures stage: one sampled frame -> a small signature, in the video pass's one decode.

Curation needs two facts about frames that only the decode pass sees: where the
scene cuts are (a face track ends at a cut: ``pipeline/curate/tracks.py``) and
which videos show the same content (near-duplicate videos:
``pipeline/curate/videos.py``). Per sampled frame it stores a colour histogram
(HSV, ``HSV_HIST_BINS``, summing to 1) and a 64-bit perceptual hash (imagehash's
pHash: DCT of a 32x32 grey image). Both are computed on one thumbnail that OpenCV
shrinks the frame to first (area interpolation): letting imagehash (PIL) shrink
a whole 1080p frame costs several times more (see ``bench/RESULTS.md``, curation).
The work folder is ``work/<video_id>/frames-<fingerprint>/`` under the detect
stage's folder (the same decode); the fingerprint is the sampling's, so
changing a detector or alignment parameter keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pyarrow as pa
from PIL import Image

from pipeline.media.spec import SampleSpec
from pipeline.records import to_table
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from pipeline.stages.detect import VideoFrame
from schemas.manifests import FRAMES_SCHEMA, HSV_HIST_BINS

FRAMES_FILE = "frames.parquet"
# Both signatures are taken on a thumbnail of this size (w, h): cuts change colours, and
# near-duplicate frames share their coarse structure, not their detail.
THUMB_PX = (128, 72)
# pHash's own input side (imagehash: hash_size 8 x highfreq_factor 4).
PHASH_INPUT_PX = 32
HSV_RANGES = [0, 180, 0, 256, 0, 256]


@dataclass(frozen=True)
class FrameParams:
    sampling: SampleSpec


@dataclass(frozen=True)
class FrameSignature:
    """One row of ``FRAMES_SCHEMA``."""

    video_id: str
    frame_index: int
    pts_s: float
    frame_phash: str
    hist_hsv: tuple[float, ...]


def thumbnail(image_rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(image_rgb, THUMB_PX, interpolation=cv2.INTER_AREA)


def hsv_histogram(image_rgb: np.ndarray) -> np.ndarray:
    """An RGB image's HSV histogram (``HSV_HIST_BINS``), flattened, summing to 1."""
    hist = cv2.calcHist([cv2.cvtColor(image_rgb, cv2.COLOR_RGB2HSV)], [0, 1, 2], None, list(HSV_HIST_BINS), HSV_RANGES).ravel()
    return hist / max(float(hist.sum()), 1.0)


def phash_hex(image_grey: np.ndarray) -> str:
    """imagehash's 64-bit pHash of a grey image, as 16 hex digits (shrunk by OpenCV first).

    imagehash's DCT is scipy's, whose import is the largest part left of a run's fixed cost on one
    still (0.2 s idle); OpenCV's DCT would spare it but gave other bits for 790 of 6,000 symmetric or
    mirrored images (ties that rounding breaks either way; bench/RESULTS.md, fixed cost), and stored
    hashes must not change."""
    small = cv2.resize(image_grey, (PHASH_INPUT_PX, PHASH_INPUT_PX), interpolation=cv2.INTER_AREA)
    return str(imagehash.phash(Image.fromarray(small)))


class FrameSignatureStage(workdir.PerVideoTable, Stage[VideoFrame, FrameSignature]):
    name = "frames"
    version = 1
    Params = FrameParams
    inputs = ("corpus",)
    columns = FRAMES_SCHEMA
    work_file = FRAMES_FILE

    def __init__(self, params: FrameParams, work_root: Path, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.work_root = Path(work_root)

    def setup(self) -> None:
        """imagehash imports scipy's DCT on its first hash (about 0.2 s): done here, before any
        video's timeout starts, not inside the first video's decode."""
        phash_hex(np.zeros((PHASH_INPUT_PX, PHASH_INPUT_PX), np.uint8))

    def process(self, item: VideoFrame) -> FrameSignature:
        small = thumbnail(item.frame.image_rgb)
        hist = tuple(float(v) for v in hsv_histogram(small))
        return FrameSignature(item.video_id, item.frame.index, item.frame.pts_s, phash_hex(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)), hist)

    def save_signatures(self, video_id: str, records: list[FrameSignature]) -> pa.Table:
        """Store the video's frame signatures in its work folder."""
        return self.save(video_id, to_table(records, FRAMES_SCHEMA))
