"""Stage metrics (JSON, for ``dvc metrics``) and distributions (CSV, for ``dvc plots``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.fsutil import atomic_write_bytes

# Histogram bins of faces.parquet's per-face scores (the quality stage, pipeline/curate/quality.py):
# face size (shorter box side, px), detection score, yaw (degrees; 0 frontal, +-90 profile),
# sharpness (variance of the crop's Laplacian at 112 px; low = blurred), quality_score (0..1).
PLOT_BINS = {
    "face_size_px": [0, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 100000],
    "det_score": [round(0.5 + 0.05 * i, 2) for i in range(11)],
    "yaw_deg": [-180, -75, -60, -45, -30, -15, 0, 15, 30, 45, 60, 75, 180],
    "sharpness": [0, 10, 25, 50, 100, 200, 400, 800, 1600, 1e9],
    "quality_score": [round(0.1 * i, 1) for i in range(11)],
}


def write_metrics(path: Path, metrics: dict) -> None:
    atomic_write_bytes(Path(path), (json.dumps(metrics, indent=1, sort_keys=True) + "\n").encode(), skip_if_same=True)


def write_plots(plots_dir: Path, faces: pl.DataFrame) -> list[Path]:
    """One histogram CSV per score of ``faces`` (faces.parquet): ``bin`` (lower edge) and ``faces``."""
    written = []
    for name, edges in PLOT_BINS.items():
        counts, _ = np.histogram(faces[name].to_numpy(), bins=edges) if faces.height else (np.zeros(len(edges) - 1, int), None)
        lines = ["bin,faces"] + [f"{lo:g},{int(c)}" for lo, c in zip(edges[:-1], counts)]
        path = Path(plots_dir) / f"{name}.csv"
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode(), skip_if_same=True)
        written.append(path)
    return written
