"""The tracks stage: a video's faces -> a track per person per shot, stored once.

Item: a video's detections and frame signatures. First the shots: a scene cut
lies between two consecutive sampled frames whose colour histograms (HSV,
``pipeline/stages/frames.py``) are farther apart than ``cut_threshold``
(Bhattacharyya distance, 0..1). On hamilton.mp4 sampled every 5th frame, the
three cuts measure 0.39-0.50 and the largest distance inside a shot 0.18 (the
camera pans and zooms): 0.3 sits between them. A histogram ignores motion,
so this works at any sampling density.

Then, frame by frame in order, each face continues at most one track of the
same shot that was last seen at most ``max_gap_frames`` sampled frames ago. A
face may continue a track when the two boxes overlap (IoU >= ``min_iou``) or
when its centre moved at most ``max_shift`` face sizes (per sampled frame
elapsed) - at ``fps:1`` people move more than a box between samples, so
overlap alone breaks tracks - and in both cases its size changed by at most
``max_scale_ratio``. Among the allowed pairs, the assignment (Hungarian, scipy)
minimises the mean landmark distance in face sizes, so two people side by side
never swap or share a track: a track takes at most one face per frame. Face
size is the geometric mean of the box's sides.

``track_id`` is sha256 of the track's first face_id and this stage's
fingerprint (its parameters and inputs), first 32 hex digits: the same
detections and parameters give the same ids. ``shot_index`` counts the cuts
before the face's frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.records import to_table
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from schemas.manifests import DETECTIONS_SCHEMA, FRAMES_SCHEMA, TRACK_ASSIGNMENTS_SCHEMA

TRACKS_FILE = "tracks.parquet"
_DEFAULTS = CurateOptions()
_NO_LINK = 1e9


@dataclass(frozen=True)
class TrackParams:
    cut_threshold: float = _DEFAULTS.cut_threshold
    max_gap_frames: int = _DEFAULTS.track_max_gap_frames
    min_iou: float = _DEFAULTS.track_min_iou
    max_shift: float = _DEFAULTS.track_max_shift
    max_scale_ratio: float = _DEFAULTS.track_max_scale_ratio

    @classmethod
    def of(cls, curate: CurateOptions) -> TrackParams:
        return cls(
            curate.cut_threshold, curate.track_max_gap_frames, curate.track_min_iou, curate.track_max_shift, curate.track_max_scale_ratio
        )


@dataclass(frozen=True)
class VideoTrackInput:
    """A video's detections and frame signatures: the tracks stage's item."""

    video_id: str
    detections: pa.Table
    frames: pa.Table


@dataclass(frozen=True)
class TrackAssignment:
    """One row of ``TRACK_ASSIGNMENTS_SCHEMA``: a face's track and shot."""

    face_id: str
    track_id: str
    shot_index: int


@dataclass(frozen=True)
class Boxes:
    """Faces as arrays: boxes (N, 4) and landmarks (N, 10), full-frame pixels."""

    xyxy: np.ndarray
    landmarks: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return np.sqrt(np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 1e-6, None) * np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 1e-6, None))

    @property
    def centre(self) -> np.ndarray:
        return (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2


def histogram_distances(hists: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance between each pair of consecutive histograms (each sums to 1)."""
    if len(hists) < 2:
        return np.zeros(0)
    overlap = np.sqrt(np.clip(hists[1:] * hists[:-1], 0, None)).sum(axis=1)
    return np.sqrt(np.clip(1.0 - overlap, 0, 1))


def shot_of_frames(frames: pa.Table, cut_threshold: float) -> dict[int, int]:
    """Each sampled frame's shot index (the cuts before it)."""
    table = pl.from_arrow(frames.cast(FRAMES_SCHEMA)).sort("frame_index")
    hists = np.asarray(table["hist_hsv"].to_list(), np.float64).reshape(table.height, -1)
    cuts = np.concatenate([[0], (histogram_distances(hists) > cut_threshold).astype(int)])
    return dict(zip(table["frame_index"].to_list(), np.cumsum(cuts).tolist()))


def link_costs(a: Boxes, b: Boxes, steps: np.ndarray, params: TrackParams) -> np.ndarray:
    """(len(a), len(b)) costs of face j continuing track i (last face ``a[i]``, ``steps[i]``
    sampled frames ago): the mean landmark distance in face sizes, or ``_NO_LINK``."""
    size = np.sqrt(a.size[:, None] * b.size[None, :])
    lo = np.maximum(a.xyxy[:, None, :2], b.xyxy[None, :, :2])
    hi = np.minimum(a.xyxy[:, None, 2:], b.xyxy[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a, area_b = np.prod(a.xyxy[:, 2:] - a.xyxy[:, :2], axis=1), np.prod(b.xyxy[:, 2:] - b.xyxy[:, :2], axis=1)
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    shift = np.linalg.norm(a.centre[:, None, :] - b.centre[None, :, :], axis=2) / size
    scale = np.maximum(a.size[:, None], b.size[None, :]) / np.minimum(a.size[:, None], b.size[None, :])
    allowed = ((iou >= params.min_iou) | (shift <= params.max_shift * steps[:, None])) & (scale <= params.max_scale_ratio)
    moved = np.linalg.norm(a.landmarks.reshape(-1, 1, 5, 2) - b.landmarks.reshape(1, -1, 5, 2), axis=3).mean(axis=2) / size
    return np.where(allowed, moved, _NO_LINK)


@dataclass
class _Track:
    number: int
    shot: int
    last_frame: int
    last_row: int


@dataclass
class _Linker:
    """Tracks of one video, built frame by frame."""

    params: TrackParams
    boxes: Boxes
    tracks: list[_Track] = field(default_factory=list)
    track_of_row: dict[int, int] = field(default_factory=dict)

    def add_frame(self, frame: int, shot: int, rows: list[int]) -> None:
        open_ = [t for t in self.tracks if t.shot == shot and frame - t.last_frame - 1 <= self.params.max_gap_frames]
        taken: set[int] = set()
        if open_:
            last = [t.last_row for t in open_]
            steps = np.array([frame - t.last_frame for t in open_], np.float64)
            costs = link_costs(self._at(last), self._at(rows), steps, self.params)
            # Imported here: scipy.optimize takes 0.7 s to import, most of the fixed cost of a
            # run over stills (no frame to link), measured with python -X importtime.
            from scipy.optimize import linear_sum_assignment

            for i, j in zip(*linear_sum_assignment(costs)):
                if costs[i, j] < _NO_LINK:
                    self._extend(open_[i], frame, rows[j])
                    taken.add(j)
        for j, row in enumerate(rows):
            if j not in taken:
                self.tracks.append(_Track(len(self.tracks), shot, frame, row))
                self.track_of_row[row] = len(self.tracks) - 1

    def _at(self, rows: list[int]) -> Boxes:
        return Boxes(self.boxes.xyxy[rows], self.boxes.landmarks[rows])

    def _extend(self, track: _Track, frame: int, row: int) -> None:
        track.last_frame, track.last_row = frame, row
        self.track_of_row[row] = track.number


class TrackStage(workdir.PerVideoTable, Stage[VideoTrackInput, list[TrackAssignment]]):
    name = "tracks"
    version = 1
    Params = TrackParams
    inputs = ("detect", "frames")
    columns = TRACK_ASSIGNMENTS_SCHEMA
    work_file = TRACKS_FILE
    work_folder = workdir.CURATION_DIR

    def __init__(self, params: TrackParams, dataset_dir: Path, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.work_root = Path(dataset_dir)

    def process(self, item: VideoTrackInput) -> list[TrackAssignment]:
        faces = pl.from_arrow(item.detections.cast(DETECTIONS_SCHEMA)).sort("frame_index", "face_index")
        if faces.height == 0:
            return []
        shots = shot_of_frames(item.frames, self.params.cut_threshold)
        boxes = Boxes(
            np.asarray(faces["bbox_xyxy_px"].to_list(), np.float64).reshape(-1, 4),
            np.asarray(faces["landmarks5_px"].to_list(), np.float64).reshape(-1, 10),
        )
        linker = _Linker(self.params, boxes)
        frame_of_row = faces["frame_index"].to_list()
        for frame, rows in _rows_by_frame(frame_of_row):
            linker.add_frame(frame, shots.get(frame, 0), rows)
        ids = faces["face_id"].to_list()
        first_face = {t.number: None for t in linker.tracks}
        for row, number in sorted(linker.track_of_row.items()):
            first_face[number] = first_face[number] or ids[row]
        track_ids = {n: hashlib.sha256(f"{face}|{self.fingerprint}".encode()).hexdigest()[:32] for n, face in first_face.items()}
        return [
            TrackAssignment(ids[row], track_ids[linker.track_of_row[row]], shots.get(frame_of_row[row], 0)) for row in range(faces.height)
        ]

    def save_tracks(self, video_id: str, records: list[TrackAssignment]) -> pa.Table:
        return self.save(video_id, to_table(records, TRACK_ASSIGNMENTS_SCHEMA))


def _rows_by_frame(frame_of_row: list[int]) -> list[tuple[int, list[int]]]:
    grouped: dict[int, list[int]] = {}
    for row, frame in enumerate(frame_of_row):
        grouped.setdefault(frame, []).append(row)
    return sorted(grouped.items())
