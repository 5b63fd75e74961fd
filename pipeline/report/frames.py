"""A video page's strip: a few sampled frames with faces, decoded at the face rows' ``pts_s``
(ffmpeg, one input-seeked frame each, scaled to the strip's width by ffmpeg itself, upright by
its autorotation), with each face's box, 5 landmarks and track number drawn, coloured by status.
When the source is not reachable (no corpus given, the file moved, a decode error) the boxes
are drawn on a blank frame of the recorded size and the page says why."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from pipeline.media.confine import ffmpeg_input_argv
from pipeline.media.ffmpeg import ffmpeg_exe
from pipeline.report.caps import JPEG_QUALITY, STRIP_FRAMES, STRIP_PX
from pipeline.report.data import spread
from pipeline.report.output import write
from pipeline.report.sheets import STATUS_BGR

FRAME_TIMEOUT_S = 60.0
# ffmpeg's input seek lands on the first frame at or after the time; the stored pts_s is rounded to 1 us.
SEEK_EARLY_S = 1e-4


@dataclass(frozen=True)
class Box:
    face_id: str
    rect: tuple[int, int, int, int]  # x1, y1, x2, y2 in the drawn image's pixels
    label: str


@dataclass(frozen=True)
class DrawnFrame:
    file: str
    width: int
    height: int
    frame_index: int
    pts_s: float
    boxes: tuple[Box, ...]
    note: str  # empty when decoded from the source; else why the frame is blank


def frame_strip(
    source: Path | None, is_image: bool, faces: pl.DataFrame, track_numbers: dict[str, int], out: Path, name: str
) -> list[DrawnFrame]:
    """Draw up to STRIP_FRAMES of the video's frames that have faces, spread over the video."""
    frames = spread(
        faces.select("frame_index", "pts_s", "frame_width_px", "frame_height_px").unique("frame_index").sort("frame_index"), STRIP_FRAMES
    )
    drawn = []
    for frame in frames.iter_rows(named=True):
        image, note = _frame_image(source, is_image, frame)
        rows = faces.filter(pl.col("frame_index") == frame["frame_index"])
        scale = image.shape[1] / max(1, frame["frame_width_px"])
        boxes = tuple(_draw_face(image, row, scale, track_numbers) for row in rows.iter_rows(named=True))
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
        file = write(out, f"frames/{name}-{frame['frame_index']}.jpg", data)
        drawn.append(DrawnFrame(file, image.shape[1], image.shape[0], frame["frame_index"], frame["pts_s"], boxes, note))
    return drawn


def _frame_image(source: Path | None, is_image: bool, frame: dict) -> tuple[np.ndarray, str]:
    width = min(STRIP_PX, max(2, frame["frame_width_px"]))  # never enlarged
    height = max(2, round(frame["frame_height_px"] * width / max(1, frame["frame_width_px"])))
    if source is None:
        return _blank(width, height), "source video not available (no corpus given, or not found): boxes on a blank frame"
    seek = [] if is_image else ["-copyts", "-ss", f"{max(0.0, frame['pts_s'] - SEEK_EARLY_S):.6f}"]
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *seek, *ffmpeg_input_argv(source), "-frames:v", "1",
               "-vf", f"scale={width}:{height}", "-f", "image2pipe", "-c:v", "png", "-"]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=FRAME_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return _blank(width, height), f"{source.name}: decoding the frame at {frame['pts_s']:.3f} s timed out"
    image = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_COLOR) if result.stdout else None
    if image is None:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no frame"]
        return _blank(width, height), f"{source.name}: no frame at {frame['pts_s']:.3f} s ({reason[0][:200]})"
    return image, ""


def _blank(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 60, np.uint8)


def _draw_face(image: np.ndarray, row: dict, scale: float, track_numbers: dict[str, int]) -> Box:
    colour = STATUS_BGR.get(row.get("status"), (255, 255, 255))
    x1, y1, x2, y2 = (round(v * scale) for v in row["bbox_xyxy_px"])
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
    points = row.get("landmarks5_px") or []
    for x, y in zip(points[0::2], points[1::2]):
        cv2.circle(image, (round(x * scale), round(y * scale)), 2, (0, 220, 255), -1)
    number = track_numbers.get(row.get("track_id") or "")
    label = f"T{number}" if number is not None else "-"
    cv2.putText(image, label, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, label, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    height, width = image.shape[:2]
    rect = (max(0, x1), max(0, y1), min(width - 1, x2), min(height - 1, y2))
    return Box(row["face_id"], rect, label)
