"""Pairs of unit vectors closer than a distance: the graph identity clustering runs on.

Up to ``EXACT_MAX`` vectors every pair is compared (blocked matrix products).
Above it, vectors are bucketed by scipy's k-means (``kmeans2`` on a sample,
about ``BUCKET_SIZE`` vectors per bucket) and each vector is compared with the
vectors of its ``PROBES`` nearest buckets only: a pair split across buckets that
are not among each other's nearest is missed, which costs recall at the edges
of identities and never adds a false pair (bench/identities.py measures it).
Each vector keeps at most ``max_neighbors`` of its nearest neighbours, so the
graph has at most n * max_neighbors edges whatever the identity sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_MAX = 20_000
BLOCK_ROWS = 2048
BUCKET_SIZE = 2000
PROBES = 2
# k-means sees this many vectors per bucket (a sample): bucketing needs rough centres, not exact ones.
KMEANS_PER_BUCKET = 20
SEED = 0


@dataclass(frozen=True)
class Edges:
    """Undirected edges i < j with their Euclidean distance."""

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray


def _block_edges(a: np.ndarray, b: np.ndarray, a_ids: np.ndarray, b_ids: np.ndarray, max_d: float, k: int) -> list[np.ndarray]:
    """Edges from each row of ``a`` to its at most ``k`` nearest rows of ``b`` within ``max_d``.

    On unit vectors |x - y|^2 = 2 - 2 x.y, so the threshold is one on the dot product; the pairs
    within it are few (a person's other tracks), so only they are ranked, not the whole row."""
    dot = a @ b.T
    rows, cols = np.nonzero(dot > 1.0 - max_d * max_d / 2.0)
    sims = dot[rows, cols]
    rows, cols = a_ids[rows], b_ids[cols]
    keep = rows != cols
    rows, cols, sims = rows[keep], cols[keep], sims[keep]
    order = np.lexsort((-sims, rows))  # by row, nearest first
    rows, cols, sims = rows[order], cols[order], sims[order]
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1] if len(rows) else np.zeros(0, np.int64)
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    near = rank < k
    return [rows[near], cols[near], np.sqrt(np.maximum(2.0 - 2.0 * sims[near], 0.0))]


def _exact(vectors: np.ndarray, ids: np.ndarray, max_d: float, k: int) -> list[list[np.ndarray]]:
    return [
        _block_edges(vectors[s : s + BLOCK_ROWS], vectors, ids[s : s + BLOCK_ROWS], ids, max_d, k)
        for s in range(0, len(vectors), BLOCK_ROWS)
    ]


def _bucketed(vectors: np.ndarray, max_d: float, k: int) -> list[list[np.ndarray]]:
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(SEED)
    buckets = max(2, len(vectors) // BUCKET_SIZE)
    sample = vectors[rng.choice(len(vectors), min(len(vectors), KMEANS_PER_BUCKET * buckets), replace=False)]
    centres, _ = kmeans2(sample.astype(np.float64), buckets, minit="++", seed=SEED)
    centres = centres.astype(np.float32)
    nearest = np.concatenate([np.argsort(-(vectors[s : s + 65536] @ centres.T), axis=1)[:, :PROBES] for s in range(0, len(vectors), 65536)])
    home = nearest[:, 0]
    parts = []
    for bucket in range(buckets):
        members = np.flatnonzero(home == bucket)
        probes = np.flatnonzero((nearest == bucket).any(axis=1))
        if len(members):
            parts += _exact_between(vectors, members, probes, max_d, k)
    return parts


def _exact_between(vectors: np.ndarray, rows: np.ndarray, cols: np.ndarray, max_d: float, k: int) -> list[list[np.ndarray]]:
    b = vectors[cols]
    return [
        _block_edges(vectors[rows[s : s + BLOCK_ROWS]], b, rows[s : s + BLOCK_ROWS], cols, max_d, k)
        for s in range(0, len(rows), BLOCK_ROWS)
    ]


# Each vector's nearest few are enough to hold a person's tracks together in Chinese Whispers, whose
# time grows with the edges (dlib: about 20-45 us per edge here).
MAX_NEIGHBORS = 6


def threshold_edges(vectors: np.ndarray, max_distance: float, max_neighbors: int = MAX_NEIGHBORS) -> Edges:
    """Edges between unit vectors closer than ``max_distance`` (each vector's nearest
    ``max_neighbors`` at most), deduplicated, i < j."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    if len(vectors) < 2:
        return Edges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    ids = np.arange(len(vectors))
    parts = (
        _exact(vectors, ids, max_distance, max_neighbors) if len(vectors) <= EXACT_MAX else _bucketed(vectors, max_distance, max_neighbors)
    )
    i = np.concatenate([p[0] for p in parts]).astype(np.int64)
    j = np.concatenate([p[1] for p in parts]).astype(np.int64)
    d = np.concatenate([p[2] for p in parts]).astype(np.float32)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    _, first = np.unique(lo * len(vectors) + hi, return_index=True)
    return Edges(lo[first], hi[first], d[first])


def chinese_whispers(count: int, edges: Edges) -> np.ndarray:
    """dlib's Chinese Whispers labels for ``count`` vertices (a vertex with no edge is its own cluster)."""
    import dlib

    if count == 0:
        return np.zeros(0, np.int64)
    pairs = list(zip(edges.i.tolist(), edges.j.tolist())) + [(v, v) for v in range(count)]
    return np.asarray(dlib.chinese_whispers(pairs), np.int64)
