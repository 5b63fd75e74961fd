"""Difference masks of pixel-aligned fake/original face pairs (pair-aware extraction).

An aligned fake's face and its original's were cut with the same affine from the
same frame of each video (``pipeline/stages/pairing.py``), so their crops are
pixel-aligned and a per-pixel difference is meaningful. The difference is
1 - SSIM (Gaussian window, sigma 1.5, the usual constants), per colour channel,
the largest over the channels: a hue shift leaves the luma nearly as it was but
moves the colour channels, which luma-only SSIM would miss. The mask is that
difference as a single-channel 8-bit PNG (0 = identical, 255 = 1 - SSIM of 1 or
more), named by its sha256 under ``masks/`` beside ``crops/``. A fake video's masks and
scalars are stored as curation work (``curation/<video_id>/masks-<key>/``, the key hashing
its pairs' crops, boxes and affines and ``MASKS_VERSION``), so a merge that changes none
of them computes nothing. Per pair:
``mask_mean_diff``, the mean difference inside the face region (the detected box
mapped into the crop by the affine), and ``mask_changed_share``, the share of the
face region whose difference exceeds ``CHANGED_DIFF``.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from pipeline.fsutil import atomic_write_bytes
from pipeline.stages import workdir

MASKS_DIR = "masks"
# Bump when a mask or its scalars change for the same crops (stored per-video work is keyed by it).
MASKS_VERSION = 1
MASKS_FILE = "masks.parquet"
SSIM_SIGMA = 1.5
# Pairs are masked on threads (OpenCV's reading, blurring and encoding, numpy's arithmetic and the file
# writes release the GIL): the 115 pairs of bench/pairs.py's 1 s GOP corpus took 0.69 s on one thread, 0.55 s on two.
MASK_THREADS = max(2, min(4, os.cpu_count() or 2))
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2
# A pixel is "changed" above this difference. Measured on hamilton's 112 px arcface crops re-encoded
# with x264 (ultrafast): an untouched face reads at most 0.03 on average and 0.1-0.2 at its noisiest
# pixels; a face under boxblur=10 reads 0.3-0.7 inside the blurred region.
CHANGED_DIFF = 0.25

MASK_COLUMNS = {
    "face_id": pl.String,
    "original_face_id": pl.String,
    "original_video_id": pl.String,
    "mask_path": pl.String,
    "mask_mean_diff": pl.Float32,
    "mask_changed_share": pl.Float32,
}


def difference(fake: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Per-pixel 1 - SSIM of two equal-size images (HxW or HxWxC uint8), the largest over channels, in [0, 1]."""
    a = np.atleast_3d(fake).astype(np.float32)  # float32: 2.8 -> ~1 ms per 112 px pair, same mask to 1/255
    b = np.atleast_3d(original).astype(np.float32)
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), SSIM_SIGMA)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2))
    return np.clip(1.0 - np.atleast_3d(ssim).min(axis=2), 0.0, 1.0).astype(np.float32)


def face_region(affine_2x3: list[float], bbox_xyxy_px: list[float], size_px: int) -> np.ndarray:
    """The detected box mapped into the crop by its affine, as a boolean mask of the crop."""
    m = np.asarray(affine_2x3, np.float64).reshape(2, 3)
    x1, y1, x2, y2 = bbox_xyxy_px
    corners = np.array([[x1, y1, 1], [x2, y1, 1], [x2, y2, 1], [x1, y2, 1]], np.float64) @ m.T
    region = np.zeros((size_px, size_px), np.uint8)
    cv2.fillConvexPoly(region, np.round(corners).astype(np.int32), 1)
    return region.astype(bool)


@dataclass(frozen=True)
class PairMask:
    """One aligned pair's mask file (relative to the dataset folder) and scalars."""

    mask_path: str
    mean_diff: float
    changed_share: float


def pair_mask(out_dir: Path, fake_crop: str, original_crop: str, affine: list[float], bbox: list[float]) -> PairMask:
    """Compute, store (once: named by content) and summarise one pair's mask."""
    fake = cv2.imread(str(out_dir / fake_crop), cv2.IMREAD_COLOR)
    original = cv2.imread(str(out_dir / original_crop), cv2.IMREAD_COLOR)
    if fake is None or original is None or fake.shape != original.shape:
        raise ValueError(f"{fake_crop}, {original_crop}: crops missing, unreadable or of different sizes")
    diff = difference(fake, original)
    # OpenCV's default PNG level: 0.09 ms and 1.28 KB a 112 px mask, against 0.86 ms and 1.19 KB at level 9.
    ok, png = cv2.imencode(".png", np.round(diff * 255).astype(np.uint8))
    data = png.tobytes()
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{MASKS_DIR}/{sha[:2]}/{sha}.png"
    if not (out_dir / rel).is_file():
        atomic_write_bytes(out_dir / rel, data)
    region = face_region(affine, bbox, diff.shape[0])
    inside = diff[region] if region.any() else diff.ravel()
    return PairMask(rel, float(inside.mean()), float((inside > CHANGED_DIFF).mean()))


def aligned_pairs(out_dir: Path, faces: pl.DataFrame, aligned: dict[str, str]) -> pl.DataFrame:
    """Every face of an aligned fake (``aligned``: fake video_id -> original's) with the original's face at
    the same sampled frame and rank, and their mask (``MASK_COLUMNS``)."""
    (Path(out_dir) / MASKS_DIR).mkdir(parents=True, exist_ok=True)  # always there: a DVC output of curate, a dep of pack
    cols = ["video_id", "frame_index", "face_index", "face_id", "crop_path", "affine_2x3", "bbox_xyxy_px"]
    fakes = faces.filter(pl.col("video_id").is_in(list(aligned))).select(cols)
    if fakes.height == 0:
        return pl.DataFrame(schema=MASK_COLUMNS)
    fakes = fakes.with_columns(original_video_id=pl.col("video_id").replace_strict(aligned, return_dtype=pl.String))
    originals = faces.select(
        pl.col("video_id").alias("original_video_id"), "frame_index", "face_index",
        pl.col("face_id").alias("original_face_id"), pl.col("crop_path").alias("original_crop_path"),
    )  # fmt: skip
    joined = fakes.join(originals, on=["original_video_id", "frame_index", "face_index"], how="inner")
    parts = [_video_masks(Path(out_dir), video) for _, video in joined.sort("face_id").group_by("video_id", maintain_order=True)]
    return pl.concat(parts) if parts else pl.DataFrame(schema=MASK_COLUMNS)


def _video_masks(out_dir: Path, pairs: pl.DataFrame) -> pl.DataFrame:
    """One fake video's masks: stored work when its key matches and the mask files are there, else computed and stored."""
    key_rows = pairs.select("face_id", "crop_path", "original_crop_path", "affine_2x3", "bbox_xyxy_px").rows()
    key = hashlib.sha256(f"{MASKS_VERSION}|{key_rows}".encode()).hexdigest()[:20]
    folder = workdir.work_dir(out_dir, pairs["video_id"][0], "masks", key, workdir.CURATION_DIR)
    if workdir.is_done(folder):
        stored = pl.from_arrow(workdir.read_table(folder, MASKS_FILE))
        if all((out_dir / p).is_file() for p in stored["mask_path"]):
            return stored
    records = list(pairs.iter_rows(named=True))
    one = lambda r: pair_mask(out_dir, r["crop_path"], r["original_crop_path"], r["affine_2x3"], r["bbox_xyxy_px"])  # noqa: E731
    with ThreadPoolExecutor(MASK_THREADS) as pool:
        masks = list(pool.map(one, records))
    rows = [
        (r["face_id"], r["original_face_id"], r["original_video_id"], m.mask_path, m.mean_diff, m.changed_share)
        for r, m in zip(records, masks)
    ]
    table = pl.DataFrame(rows, schema=MASK_COLUMNS, orient="row")
    workdir.save(folder, key, {MASKS_FILE: table.to_arrow()}, {})
    return table
