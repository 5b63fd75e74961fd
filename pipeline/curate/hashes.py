"""64-bit perceptual hashes (imagehash's pHash, stored as 16 hex digits) as integers, and their distances."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hash_ints(hexes: Sequence[str]) -> np.ndarray:
    """16-hex-digit hashes -> uint64 array."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between uint64 hashes (numpy broadcasting: (N, 1) against (M,) gives (N, M))."""
    x = np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64))
    bits = np.unpackbits(np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8), axis=-1)
    return bits.sum(axis=-1, dtype=np.int64)
