"""The report's distributions as small PNG files drawn by matplotlib (Agg, no display, its own
bundled font: nothing fetched). Histograms are binned with numpy over the whole column, so
1,000,000 rows cost a fraction of a second each; kept and dropped faces are stacked."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.report.data import KEPT, Breakdown, Tables
from pipeline.report.output import write

# (column, title, unit): the histograms drawn when the faces manifest has the column.
HISTOGRAMS = (
    ("face_size_px", "face size", "px (box's shorter side)"),
    ("det_score", "detection score", "0..1"),
    ("sharpness", "sharpness", "variance of the Laplacian at 112 px"),
    ("quality_score", "quality score", "0..1"),
    ("brightness", "brightness", "mean luma 0..1"),
    ("yaw_deg", "yaw", "degrees"),
    ("pitch_deg", "pitch", "degrees"),
    ("roll_deg", "roll", "degrees"),
)
BINS = 30
FIG_IN = (4.8, 2.8)
DPI = 80  # 384 x 224 px per plot: 10-20 kB PNG
KEPT_COLOUR, DROPPED_COLOUR = "#2b8a3e", "#e8590c"


@dataclass(frozen=True)
class Plot:
    file: str  # relative to the report folder
    title: str
    caption: str


def draw_plots(tables: Tables, out: Path, breakdowns: list[Breakdown]) -> list[Plot]:
    import matplotlib

    matplotlib.use("Agg")
    plots = []
    kept = (tables.faces["status"] == KEPT).to_numpy()
    for column, title, unit in HISTOGRAMS:
        if column in tables.faces.columns:
            values = tables.faces[column].cast(pl.Float64).to_numpy()
            plots.append(_histogram(out, column, title, unit, values, kept))
    per_frame = tables.faces.group_by("video_id", "frame_index").agg(pl.len().alias("n"))["n"].to_numpy()
    plots.append(_counts_plot(out, "faces_per_frame", "faces per frame (frames with faces)", per_frame))
    per_video = tables.videos.filter(pl.col("status") == KEPT)["faces_found"].to_numpy()
    plots.append(_counts_plot(out, "faces_per_video", "faces per video (decoded videos)", per_video))
    for breakdown in breakdowns:
        plots.append(_bars(out, breakdown))
    return plots


def _histogram(out: Path, column: str, title: str, unit: str, values: np.ndarray, kept: np.ndarray) -> Plot:
    import matplotlib.pyplot as plt

    finite = np.isfinite(values)
    fig, ax = plt.subplots(figsize=FIG_IN, dpi=DPI)
    if finite.any():
        low, high = np.percentile(values[finite], [0.5, 99.5]) if finite.sum() > 200 else (values[finite].min(), values[finite].max())
        edges = np.linspace(low, high if high > low else low + 1, BINS + 1)
        clipped = np.clip(values, edges[0], edges[-1])
        ax.hist([clipped[finite & kept], clipped[finite & ~kept]], bins=edges, stacked=True, color=[KEPT_COLOUR, DROPPED_COLOUR],
                label=["kept", "dropped"])  # fmt: skip
        ax.legend(fontsize=7, frameon=False)
    _finish(ax, title, unit, "faces")
    caption = f"{int(finite.sum())} faces with a value; the outer 0.5% each side clipped into the end bins"
    return Plot(_save(fig, out, column), title, caption)


def _counts_plot(out: Path, name: str, title: str, counts: np.ndarray) -> Plot:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=FIG_IN, dpi=DPI)
    if counts.size:
        top = int(min(counts.max(), np.percentile(counts, 99.5) if counts.size > 200 else counts.max()))
        values, tally = np.unique(np.minimum(counts, top), return_counts=True)
        ax.bar(values, tally, color=KEPT_COLOUR, width=0.8 if top < 40 else max(1.0, top / 40))
    _finish(ax, title, "count (values above the 99.5th percentile shown at it)", "occurrences")
    return Plot(_save(fig, out, name), title, f"{counts.size} in all")


def _bars(out: Path, breakdown: Breakdown, top: int = 15) -> Plot:
    import matplotlib.pyplot as plt

    rows = breakdown.rows[:top]
    fig, ax = plt.subplots(figsize=FIG_IN, dpi=DPI)
    labels = [value if len(value) <= 24 else value[:23] + "…" for value, *_ in rows]
    positions = np.arange(len(rows))
    kept = np.array([r[3] for r in rows])
    dropped = np.array([r[2] - r[3] for r in rows])
    ax.barh(positions, kept, color=KEPT_COLOUR, label="kept faces")
    ax.barh(positions, dropped, left=kept, color=DROPPED_COLOUR, label="dropped faces")
    ax.set_yticks(positions, labels, fontsize=7)
    ax.invert_yaxis()
    ax.legend(fontsize=7, frameon=False)
    _finish(ax, f"faces per {breakdown.field}", "faces", "")
    caption = f"{len(breakdown.rows)} values" + (f"; the {top} with most videos shown" if len(breakdown.rows) > top else "")
    return Plot(_save(fig, out, f"by_{breakdown.field}"), f"per {breakdown.field}", caption)


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.figure.tight_layout()


def _save(fig, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return write(out, f"plots/{name}.png", buffer.getvalue())
