"""Fake-to-original pairing on synthetic face tables: shifted timelines, resized and mirrored fakes, originals by name."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.curate.pairs import pair_faces, resolve_originals

WIDTH, HEIGHT = 640, 360
# a face: box and landmarks (left eye, right eye, nose, left mouth, right mouth; "left" = image left)
BOX = [100.0, 80.0, 180.0, 180.0]
LANDMARKS = [125.0, 115.0, 155.0, 113.0, 140.0, 135.0, 128.0, 155.0, 152.0, 154.0]
OTHER_BOX = [400.0, 60.0, 470.0, 150.0]
OTHER_LANDMARKS = [420.0, 90.0, 450.0, 90.0, 435.0, 110.0, 424.0, 130.0, 446.0, 130.0]


def _videos(rows: list[tuple[str, str, str | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"video_id": v, "uri": u, "duplicate_uris": [], "original": o, "width_px": w, "height_px": w * HEIGHT // WIDTH, "status": "ok"}
         for v, u, o, w in rows],
        schema={"video_id": pl.String, "uri": pl.String, "duplicate_uris": pl.List(pl.String), "original": pl.String,
                "width_px": pl.Int32, "height_px": pl.Int32, "status": pl.String},
    )  # fmt: skip


def _mirror(box, lm, width):
    pts = np.array(lm).reshape(5, 2)[[1, 0, 2, 4, 3]]
    pts[:, 0] = width - pts[:, 0]
    return [width - box[2], box[1], width - box[0], box[3]], pts.reshape(-1).tolist()


def _faces(video: str, start_s: float, scale: float = 1.0, mirrored: bool = False, frames: int = 4) -> list[dict]:
    rows = []
    for k in range(frames):
        for n, (box, lm) in enumerate(((BOX, LANDMARKS), (OTHER_BOX, OTHER_LANDMARKS))):
            box, lm = [v * scale for v in box], [v * scale for v in lm]
            if mirrored:
                box, lm = _mirror(box, lm, WIDTH * scale)
            rows.append(
                {"face_id": f"{video}-{k}-{n}", "video_id": video, "pts_s": start_s + 0.5 * k, "bbox_xyxy_px": box, "landmarks5_px": lm}
            )
    return rows


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"face_id": pl.String, "video_id": pl.String, "pts_s": pl.Float64,
                                      "bbox_xyxy_px": pl.Array(pl.Float32, 4), "landmarks5_px": pl.Array(pl.Float32, 10)})  # fmt: skip


@pytest.mark.parametrize(("scale", "mirrored"), [(1.0, False), (0.5, False), (1.0, True), (0.75, True)])
def test_each_fake_face_pairs_with_the_original_face_at_the_same_stream_place(scale, mirrored):
    videos = _videos([("orig", "o.mp4", None, WIDTH), ("fake", "f.mp4", "o.mp4", int(WIDTH * scale))])
    faces = _frame([*_faces("orig", 0.834), *_faces("fake", 0.033, scale, mirrored)])  # DFDC-like shifted starts
    originals = resolve_originals(videos)
    pairs = pair_faces(faces, videos, originals, {"orig": 0.834, "fake": 0.033}, {"orig": 0.5, "fake": 0.5})
    assert pairs.height == 8
    expected = {f"fake-{k}-{n}": f"orig-{k}-{n}" for k in range(4) for n in range(2)}
    assert dict(zip(pairs["face_id"], pairs["original_face_id"])) == expected
    assert (pairs["mirrored"] == mirrored).all() and (pairs["iou"] > 0.95).all() and (pairs["time_gap_s"].abs() < 1e-9).all()


def test_no_pair_when_no_original_face_overlaps_or_no_frame_is_near():
    videos = _videos([("orig", "o.mp4", None, WIDTH), ("fake", "f.mp4", "o.mp4", WIDTH)])
    fake = _faces("fake", 0.0, frames=1)[:1]
    fake[0]["bbox_xyxy_px"] = [250.0, 200.0, 300.0, 250.0]  # nothing of the original there
    late = _faces("fake", 5.0, frames=1)[1:]  # 5 s on: the original has no frame near
    pairs = pair_faces(
        _frame([*_faces("orig", 0.0), *fake, *late]), videos, resolve_originals(videos), {"orig": 0.0, "fake": 0.0}, {"orig": 0.5}
    )
    assert pairs.height == 0 and pairs.schema["face_id"] == pl.String


def test_originals_resolve_by_uri_folder_or_unique_name_and_missing_ones_are_listed():
    videos = _videos(
        [("o1", "part0/a.mp4", None, WIDTH), ("f1", "part0/b.mp4", "a.mp4", WIDTH), ("f2", "c.mp4", "part0/a.mp4", WIDTH),
         ("f3", "d.mp4", "gone.mp4", WIDTH), ("f4", "e.mp4", "e.mp4", WIDTH)]
    )  # fmt: skip
    originals = resolve_originals(videos)
    assert originals.of == {"f1": "o1", "f2": "o1"}
    assert originals.missing == (("d.mp4", "gone.mp4"), ("e.mp4", "e.mp4"))
