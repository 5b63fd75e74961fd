"""Tracks on real footage (hamilton.mp4 at fps:2, a hard cut between two clips) and the linking rules."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.curate.tracks import Boxes, TrackParams, TrackStage, VideoTrackInput, link_costs
from pipeline.records import DetectionRecord, to_table
from schemas.manifests import DETECTIONS_SCHEMA, FRAMES_SCHEMA, HSV_HIST_BINS


def faces_of(curated, uri: str) -> pl.DataFrame:
    out, _ = curated
    return pl.read_parquet(out / "faces.parquet").filter(pl.col("uri") == uri).sort("frame_index", "face_index")


def test_hamilton_at_fps2_one_track_per_person_per_shot(curated):
    faces = faces_of(curated, "hamilton.mp4")
    shots = dict(faces.select("frame_index", "shot_index").unique().iter_rows())
    # Cuts by eye between sampled frames 1|2 (1.5 s), 5|6 (3.7 s) and 14|15 (8.0 s).
    assert shots == {f: 0 if f < 2 else 1 if f < 6 else 2 if f < 15 else 3 for f in shots}
    assert faces.group_by("frame_index", "track_id").len()["len"].max() == 1  # a track takes one face per frame
    per_track = faces.group_by("track_id").agg(pl.col("shot_index").first(), pl.col("frame_index").sort())
    tracks_in = {shot: per_track.filter(pl.col("shot_index") == shot)["frame_index"].to_list() for shot in (0, 2, 3)}
    assert sorted(tracks_in[0]) == [[0, 1], [0, 1]]  # the singer and the man at the left: two tracks
    assert tracks_in[2] == [list(range(6, 15))]  # the close-up: one person, one track over 9 frames
    assert sorted(tracks_in[3]) == [[15, 16, 17, 18]] * 5  # five people side by side: five tracks


def test_people_side_by_side_keep_their_own_tracks(curated):
    faces = faces_of(curated, "hamilton.mp4").filter(pl.col("shot_index") == 3)
    centre = faces.with_columns(x=(pl.col("bbox_xyxy_px").arr.get(0) + pl.col("bbox_xyxy_px").arr.get(2)) / 2)
    spread = centre.group_by("track_id").agg((pl.col("x").max() - pl.col("x").min()).alias("spread"), pl.col("x").mean())
    gaps = np.diff(np.sort(spread["x"].to_numpy()))
    assert spread["spread"].max() < gaps.min()  # each track stays nearer its own place than to a neighbour's


def test_a_hard_cut_ends_every_track(curated):
    faces = faces_of(curated, "cut.mp4")
    shots = dict(faces.select("frame_index", "shot_index").unique().iter_rows())
    cut = min(f for f, s in shots.items() if s == 1)
    assert faces.filter(pl.col("pts_s") < 1.9)["shot_index"].unique().to_list() == [0] and cut == 4
    assert (faces.group_by("track_id").agg(pl.col("shot_index").n_unique())["shot_index"] == 1).all()
    # Without the cut, faces on both sides would have been linked: some pair passes the linking rules.
    before, after = faces.filter(pl.col("frame_index") == cut - 1), faces.filter(pl.col("frame_index") == cut)
    costs = link_costs(_boxes(before), _boxes(after), np.ones(before.height), TrackParams())
    assert (costs < 1e9).any()


def _boxes(faces: pl.DataFrame) -> Boxes:
    return Boxes(np.asarray(faces["bbox_xyxy_px"].to_list(), float), np.asarray(faces["landmarks5_px"].to_list(), float))


def _detection(frame: int, x: float, index: int = 0) -> DetectionRecord:
    landmarks = (x + 10, 30.0, x + 30, 30.0, x + 20, 40.0, x + 12, 50.0, x + 28, 50.0)
    return DetectionRecord(
        f"{frame:016x}{index:016x}",
        "v" * 64,
        frame,
        frame * 0.5,
        640,
        360,
        index,
        (x, 10.0, x + 40, 60.0),
        0.9,
        landmarks,
        "d",
        "d",
        "fps:2",
    )


def _frames(count: int, cut_before: int | None = None) -> pa.Table:
    bins = int(np.prod(HSV_HIST_BINS))
    rows = []
    for f in range(count):
        hist = np.zeros(bins, np.float32)
        hist[0 if cut_before is None or f < cut_before else 1] = 1.0
        rows.append({"video_id": "v" * 64, "frame_index": f, "pts_s": f * 0.5, "frame_phash": "0" * 16, "hist_hsv": hist.tolist()})
    return pa.Table.from_pylist(rows, schema=FRAMES_SCHEMA)


def _tracks(detections: list[DetectionRecord], frames: pa.Table, params: TrackParams, tmp_path) -> list[int]:
    """Track numbers (in order of first appearance) of each detection."""
    records = TrackStage(params, tmp_path)(VideoTrackInput("v" * 64, to_table(detections, DETECTIONS_SCHEMA), frames))
    order = {t: n for n, t in enumerate(dict.fromkeys(r.track_id for r in records))}
    return [order[r.track_id] for r in records]


def test_a_short_gap_is_bridged_and_a_long_one_is_not(tmp_path):
    one_missed = [_detection(0, 100), _detection(2, 110)]
    two_missed = [_detection(0, 100), _detection(3, 110)]
    assert _tracks(one_missed, _frames(4), TrackParams(max_gap_frames=1), tmp_path) == [0, 0]
    assert _tracks(two_missed, _frames(4), TrackParams(max_gap_frames=1), tmp_path) == [0, 1]
    assert _tracks(two_missed, _frames(4), TrackParams(max_gap_frames=2), tmp_path) == [0, 0]


def test_position_relative_to_size_links_faces_that_no_longer_overlap(tmp_path):
    moved = [_detection(0, 100), _detection(1, 145)]  # 45 px to the right: no overlap with a 40 px box
    assert _tracks(moved, _frames(2), TrackParams(min_iou=0.3, max_shift=1.5), tmp_path) == [0, 0]
    assert _tracks(moved, _frames(2), TrackParams(min_iou=0.3, max_shift=0.5), tmp_path) == [0, 1]


def test_a_cut_ends_a_track_even_where_the_face_stays(tmp_path):
    still = [_detection(0, 100), _detection(1, 100), _detection(2, 100)]
    assert _tracks(still, _frames(3), TrackParams(), tmp_path) == [0, 0, 0]
    assert _tracks(still, _frames(3, cut_before=2), TrackParams(), tmp_path) == [0, 0, 1]


def test_two_faces_crossing_the_frame_are_assigned_by_least_movement(tmp_path):
    faces = [_detection(0, 100, 0), _detection(0, 300, 1), _detection(1, 310, 0), _detection(1, 105, 1)]
    assert _tracks(faces, _frames(2), TrackParams(max_shift=10.0), tmp_path) == [0, 1, 1, 0]
