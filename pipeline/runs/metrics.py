"""Stage metrics (JSON, for ``dvc metrics``) and distributions (CSV, for ``dvc plots``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.fsutil import atomic_write_bytes

# Histogram bins of the per-face measures (pipeline/stages/measures.py): face size
# (shorter box side, px), detection score, yaw proxy (0 frontal, ~1 profile),
# sharpness (variance of the crop's Laplacian; low = blurred).
PLOT_BINS = {
    "face_size_px": [0, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 100000],
    "det_score": [round(0.5 + 0.05 * i, 2) for i in range(11)],
    "yaw_proxy": [0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 100],
    "sharpness": [0, 10, 25, 50, 100, 200, 400, 800, 1600, 1e9],
}


def write_metrics(path: Path, metrics: dict) -> None:
    atomic_write_bytes(Path(path), (json.dumps(metrics, indent=1, sort_keys=True) + "\n").encode(), skip_if_same=True)


def write_plots(plots_dir: Path, measures: pl.DataFrame) -> list[Path]:
    """One histogram CSV per measure: ``bin`` (lower edge) and ``faces``."""
    written = []
    for name, edges in PLOT_BINS.items():
        counts, _ = np.histogram(measures[name].to_numpy(), bins=edges) if measures.height else (np.zeros(len(edges) - 1, int), None)
        lines = ["bin,faces"] + [f"{lo:g},{int(c)}" for lo, c in zip(edges[:-1], counts)]
        path = Path(plots_dir) / f"{name}.csv"
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode(), skip_if_same=True)
        written.append(path)
    return written
