"""The training view: at most N kept faces per track, best first, spread over the track."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from flows.cli import main as facecorpus
from pipeline.curate.select import spread_pick
from schemas.manifests import SELECTION_SCHEMA


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=1, max_size=40), st.integers(1, 10))
def test_spread_pick_takes_at_most_n_best_first_covering_the_span(faces, count):
    pts, quality = np.array([f[0] for f in faces]), np.array([f[1] for f in faces])
    picked = spread_pick(pts, quality, count)
    assert len(picked) == min(count, len(faces)) and len(set(picked)) == len(picked)
    assert [quality[i] for i in picked] == sorted((quality[i] for i in picked), reverse=True)
    if len(faces) > count and pts.max() > pts.min():
        part = np.minimum(((pts - pts.min()) / (pts.max() - pts.min()) * count).astype(int), count - 1)
        for p in set(part.tolist()):  # every part of the span that holds a face gives one
            assert any(part[i] == p for i in picked)


def test_spread_pick_prefers_spread_over_the_single_best_moment():
    pts = np.arange(10.0)
    quality = np.array([0.9, 0.95, 0.99, 0.98, 0.97, 0.1, 0.2, 0.3, 0.2, 0.1])
    assert spread_pick(pts, quality, 2) == [2, 7]  # the best of each half, not the two best


def test_select_writes_the_training_view(curated, tmp_path):
    out, _ = curated
    code = facecorpus(["select", str(out), "--out", str(tmp_path / "view"), "--per-track", "2", "--min-quality", "0.5"])
    assert code == 0
    view = pq.read_table(tmp_path / "view" / "selection.parquet")
    assert view.schema.equals(SELECTION_SCHEMA)
    view = pl.from_arrow(view)
    faces = pl.read_parquet(out / "faces.parquet")
    assert view.height > 0 and set(view["status"]) == {"ok"} and view["quality_score"].min() >= 0.5
    assert view.group_by("track_id").len()["len"].max() <= 2
    assert "ham_small.mp4" not in set(view["uri"])  # a near-duplicate video is left out unless asked
    kept = faces.filter((pl.col("status") == "ok") & (pl.col("quality_score") >= 0.5) & (pl.col("uri") != "ham_small.mp4"))
    assert set(view["track_id"]) == set(kept["track_id"])  # every track with a candidate gives faces
    for (_,), track in view.group_by("track_id", maintain_order=True):  # the file is sorted by video, track, rank
        assert track["rank_in_track"].to_list() == list(range(track.height))
        assert track["quality_score"].to_list() == sorted(track["quality_score"].to_list(), reverse=True)
