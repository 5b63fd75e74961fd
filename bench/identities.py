"""Identity clustering at scale: 1,000,000 synthetic track embeddings, against 10,000 in the same run.

    .venv/bin/python bench/identities.py                    # 1,000,000 tracks (the target: < 10 min, < 4 GB)
    .venv/bin/python bench/identities.py --tracks 100000    # a smaller run
    .venv/bin/python bench/identities.py --json out.json

The vectors imitate dlib's on our unit sphere: people's centres share a common
"face" direction so that two people are 0.45-0.7 apart (dlib on the fixtures:
>= 0.46), and a person's tracks scatter about 0.2 around their centre (the
fixtures: 0.07-0.34); 10 tracks per person. It runs the pipeline's own
``assign_identities`` (graph by ``neighbors.threshold_edges`` at dlib's 0.37,
then dlib's Chinese Whispers) from an empty registry, and reports wall time,
CPU seconds (user + system: on a shared machine, where the 1-minute load
average printed next to them is above the 2 cores, wall time overstates the
cost), peak RSS (the process's ru_maxrss), and pairwise precision and recall of the
clusters against the people (exact, from the contingency table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import numpy as np  # noqa: E402

from pipeline.curate.identities import TrackVectors, assign_identities  # noqa: E402
from pipeline.curate.neighbors import EXACT_MAX  # noqa: E402
from pipeline.embedding.dlib_resnet import SAME_PERSON_DISTANCE  # noqa: E402

DIM = 128
PER_PERSON = 10
CENTRE_SPREAD = 0.45
TRACK_SPREAD = 0.14


def synthetic(tracks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    people = max(1, tracks // PER_PERSON)
    face = rng.standard_normal(DIM).astype(np.float32)
    face /= np.linalg.norm(face)
    centres = face + CENTRE_SPREAD * rng.standard_normal((people, DIM)).astype(np.float32) / np.sqrt(DIM)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(tracks) % people
    vectors = np.empty((tracks, DIM), np.float32)
    for s in range(0, tracks, 100_000):
        chunk = centres[labels[s : s + 100_000]] + TRACK_SPREAD * rng.standard_normal((len(labels[s : s + 100_000]), DIM)).astype(
            np.float32
        ) / np.sqrt(DIM)
        vectors[s : s + 100_000] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return vectors, labels


def pairwise_precision_recall(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Pairs of items put together that are one person / pairs of one person put together."""

    def pairs(counts: np.ndarray) -> float:
        return float((counts.astype(np.float64) * (counts - 1) / 2).sum())

    _, joint = np.unique(predicted.astype(np.int64) * (truth.max() + 1) + truth, return_counts=True)
    together, same, both = pairs(np.unique(predicted, return_counts=True)[1]), pairs(np.unique(truth, return_counts=True)[1]), pairs(joint)
    return (both / together if together else 1.0), (both / same if same else 1.0)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(tracks: int) -> dict:
    vectors, labels = synthetic(tracks)
    ids = [f"t{i:08d}" for i in range(tracks)]
    started, cpu, load = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
    result = assign_identities(TrackVectors(ids, vectors, [None] * tracks), None, {}, SAME_PERSON_DISTANCE, "bench")
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
    names = {identity: k for k, identity in enumerate(sorted(set(result.track_identity.values())))}
    predicted = np.array([names[result.track_identity[i]] for i in ids])
    precision, recall = pairwise_precision_recall(predicted, labels)
    return {"tracks": tracks, "people": int(labels.max() + 1), "identities": len(names), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1),
            "us_per_track": round(wall / tracks * 1e6, 1), "precision": round(precision, 4), "recall": round(recall, 4),
            "path": "exact" if tracks <= EXACT_MAX else "bucketed"}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    baseline = run(args.baseline)
    print(f"baseline: {baseline}", flush=True)
    big = run(args.tracks)
    big["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    big["per_track_vs_baseline"] = round(big["us_per_track"] / baseline["us_per_track"], 2)
    print(f"large: {big}")
    print(f"{args.tracks:,} tracks: {big['wall_s']:.0f} s ({big['wall_s'] / 60:.1f} min), {big['cpu_s']:.0f} CPU s, "
          f"peak RSS {big['peak_rss_mb']} MB, "
          f"per track {big['per_track_vs_baseline']} x the {args.baseline:,}-track baseline; "
          f"precision {big['precision']}, recall {big['recall']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"baseline": baseline, "large": big}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
