"""Contact sheets: a capped grid of crops drawn into one JPEG mosaic (one file and one request per
sheet, not per crop), with each cell's place kept so the page can link every thumbnail to its
row (an image map). Crops are read with OpenCV on a few threads and shrunk with INTER_AREA; a
crop that is missing or unreadable gets a grey cell marked with a cross, and its caption says so.
Only paths inside the dataset folder are read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from pipeline.report.caps import JPEG_QUALITY, SHEET_COLUMNS, THUMB_PX
from pipeline.report.output import write

READ_THREADS = 4
CAPTION_COLUMNS = ("uri", "frame_index", "pts_s", "status", "filter_reason", "det_score", "quality_score")
STATUS_BGR = {"ok": (62, 138, 43), "filtered": (12, 89, 232), "duplicate": (140, 140, 140)}


@dataclass(frozen=True)
class Cell:
    face_id: str
    video_id: str
    crop_path: str
    title: str  # the thumbnail's tooltip: uri, frame, status, scores
    x: int
    y: int
    readable: bool


@dataclass(frozen=True)
class Sheet:
    file: str  # relative to the report folder
    width: int
    height: int
    thumb_px: int
    cells: tuple[Cell, ...]


def contact_sheet(dataset: Path, faces: pl.DataFrame, out: Path, name: str, columns: int = SHEET_COLUMNS) -> Sheet | None:
    """A mosaic of ``faces``' crops in their order, ``columns`` to a row; None when there are none."""
    if faces.height == 0:
        return None
    rows = faces.to_dicts()
    with ThreadPoolExecutor(READ_THREADS) as pool:
        thumbs = list(pool.map(lambda r: _thumbnail(dataset, r.get("crop_path")), rows))
    columns = min(columns, len(rows))
    height_cells = -(-len(rows) // columns)
    mosaic = np.full((height_cells * THUMB_PX, columns * THUMB_PX, 3), 255, np.uint8)
    cells = []
    for index, (row, thumb) in enumerate(zip(rows, thumbs)):
        x, y = (index % columns) * THUMB_PX, (index // columns) * THUMB_PX
        mosaic[y : y + THUMB_PX, x : x + THUMB_PX] = thumb if thumb is not None else _missing()
        cv2.rectangle(mosaic, (x, y + THUMB_PX - 3), (x + THUMB_PX - 1, y + THUMB_PX - 1), STATUS_BGR.get(row.get("status"), (0, 0, 0)), -1)
        cells.append(
            Cell(row["face_id"], row["video_id"], row.get("crop_path") or "", _title(row, thumb is not None), x, y, thumb is not None)
        )
    data = cv2.imencode(".jpg", mosaic, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
    return Sheet(write(out, f"sheets/{name}.jpg", data), mosaic.shape[1], mosaic.shape[0], THUMB_PX, tuple(cells))


def inside(root: Path, relative: str | None) -> Path | None:
    """``root/relative`` when it stays inside ``root`` (links resolved), else None."""
    if not relative:
        return None
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def _thumbnail(dataset: Path, crop_path: str | None) -> np.ndarray | None:
    path = inside(dataset, crop_path)
    if path is None or not path.is_file():
        return None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    return cv2.resize(image, (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA)


def _missing() -> np.ndarray:
    cell = np.full((THUMB_PX, THUMB_PX, 3), 200, np.uint8)
    cv2.line(cell, (8, 8), (THUMB_PX - 9, THUMB_PX - 9), (90, 90, 90), 2)
    cv2.line(cell, (THUMB_PX - 9, 8), (8, THUMB_PX - 9), (90, 90, 90), 2)
    return cell


def _title(row: dict, readable: bool) -> str:
    parts = [f"{k}={_short(row[k])}" for k in CAPTION_COLUMNS if row.get(k) is not None]
    if not readable:
        parts.append(f"crop missing or unreadable: {row.get('crop_path')}")
    return " ".join(parts)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
