"""Facts about the crop files a manifest lists: present, sha256, decoded size.

They become computed columns of the crops batch, so the file checks run inside
the GX validation (and show in its results) like every other expectation.
Files are read by a thread pool: reading, hashing and decoding release the GIL.
Decoding (a full decode: the check is that the crop decodes, not only that its
header says the right size) is most of the time.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Decoding is CPU-bound and reading is not: two threads per core keep both busy
# (more only contend; measured on 2 cores).
_THREADS_PER_CORE = 2
_MAX_THREADS = 16
# image_side_px for a file that does not decode, or decodes to a non-square image:
# never a valid crop side, so the size check fails on it.
NOT_A_SQUARE_IMAGE = -1.0


@dataclass(frozen=True)
class CropFileFacts:
    exists: np.ndarray  # bool: a regular file inside the dataset folder
    sha256: list[str | None]  # None when absent; "unreadable: ..." when it could not be read
    image_side_px: np.ndarray  # float64: side of the decoded square image; NaN when absent


@dataclass(frozen=True)
class _OneFile:
    exists: bool
    sha256: str | None
    image_side_px: float


def crop_file_facts(dataset_dir: Path, crop_paths: list[str | None]) -> CropFileFacts:
    root = Path(dataset_dir).resolve()
    threads = min(_MAX_THREADS, _THREADS_PER_CORE * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        facts = list(pool.map(lambda path: _inspect(root, path), crop_paths))
    return CropFileFacts(
        exists=np.array([f.exists for f in facts], dtype=bool),
        sha256=[f.sha256 for f in facts],
        image_side_px=np.array([f.image_side_px for f in facts], dtype=np.float64),
    )


def _inspect(root: Path, crop_path: str | None) -> _OneFile:
    absent = _OneFile(False, None, np.nan)
    if not crop_path:
        return absent
    path = (root / crop_path).resolve()
    # A manifest path must not reach outside the dataset folder (links included).
    if not path.is_relative_to(root) or not path.is_file():
        return absent
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _OneFile(True, f"unreadable: {exc.strerror or type(exc).__name__}", np.nan)
    return _OneFile(True, hashlib.sha256(data).hexdigest(), _square_side_px(data))


def _square_side_px(data: bytes) -> float:
    if not data:
        return NOT_A_SQUARE_IMAGE
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[0] != image.shape[1]:
        return NOT_A_SQUARE_IMAGE
    return float(image.shape[0])
