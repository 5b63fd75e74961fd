"""Quality scores and filters: a blurred copy is filtered for sharpness, its sharp original kept;
changing a threshold refilters from the stored scores, with no decode, detection or alignment."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

import pipeline.detection.registry as registry
import pipeline.stages.video as video
from pipeline.config import CurateOptions
from pipeline.curate.embed import EmbedStage
from pipeline.curate.filters import REASONS, FilterParams, FilterStage
from pipeline.curate.quality import QualityStage
from pipeline.curate.tracks import TrackStage
from pipeline.runs.extract import run_curate, run_extract
from pipeline.stages.align import AlignStage
from schemas.manifests import FILTER_REASONS
from tests.conftest import extract_options


def test_a_blurred_copy_is_filtered_for_sharpness_and_the_original_kept(curated):
    out, _ = curated
    faces = pl.read_parquet(out / "faces.parquet")
    sharp, blurred = faces.filter(pl.col("uri") == "lin.mp4"), faces.filter(pl.col("uri") == "lin_blur.mp4")
    assert sharp.height == blurred.height == 8
    assert sharp["status"].unique().to_list() == ["ok"] and sharp["sharpness"].min() > 2 * CurateOptions().min_sharpness
    assert blurred["status"].unique().to_list() == ["filtered"] and blurred["filter_reason"].unique().to_list() == ["blurry"]
    assert all("blurry" in reasons for reasons in blurred["filter_reasons"].to_list())


def _must_not_run(name: str):
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} ran: a threshold change must reuse the stored work")

    return fail


@pytest.fixture
def nothing_upstream_runs(monkeypatch):
    """Decoding, the detector, alignment and the per-video curation stages all fail if called."""
    monkeypatch.setattr(video, "iter_frames", _must_not_run("the decoder"))
    monkeypatch.setattr(video, "probe_within", _must_not_run("probing"))
    monkeypatch.setattr(registry, "make_detector", _must_not_run("the detector"))
    monkeypatch.setattr(AlignStage, "process", _must_not_run("alignment"))
    monkeypatch.setattr(QualityStage, "process", _must_not_run("the quality stage"))
    monkeypatch.setattr(TrackStage, "process", _must_not_run("the tracks stage"))
    monkeypatch.setattr(EmbedStage, "process", _must_not_run("the embed stage"))


def test_a_threshold_change_refilters_from_stored_scores_only(curated, curation_corpus, tmp_path, nothing_upstream_runs):
    out, _ = curated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = pl.read_parquet(copy / "faces.parquet")
    options = extract_options(curation_corpus, copy, sample="fps:2")
    summary = run_extract(options, CurateOptions(min_sharpness=10.0, embed_per_track=1))  # the fixture's K
    assert summary.frames_sampled == 0 and summary.videos_detected == 0 and summary.videos_aligned == 0
    after = pl.read_parquet(copy / "faces.parquet")
    assert after["face_id"].to_list() == before["face_id"].to_list()
    assert after.drop("status", "filter_reason", "filter_reasons", "duplicate_of").equals(
        before.drop("status", "filter_reason", "filter_reasons", "duplicate_of")
    )  # the scores are the stored ones
    blurred = after.filter(pl.col("uri") == "lin_blur.mp4")
    assert not any("blurry" in r for r in blurred["filter_reasons"].to_list())
    assert summary.curation.filtered < before.filter(pl.col("status") == "filtered").height
    # The DVC curate stage's path (facecorpus curate) reads the same stored work.
    again = run_curate(options, CurateOptions(embed_per_track=1))
    assert again.frames_sampled == 0 and pl.read_parquet(copy / "faces.parquet").equals(before)


def test_rules_keep_their_order_and_name_every_failure():
    assert REASONS == FILTER_REASONS
    faces = pl.DataFrame(
        {
            "face_id": ["tiny_blurry", "profile", "fine", "border"],
            "face_size_px": [10.0, 80.0, 80.0, 80.0],
            "det_score": [0.9] * 4,
            "sharpness": [5.0, 300.0, 300.0, 300.0],
            "brightness": [0.5] * 4,
            "contrast": [0.2] * 4,
            "yaw_deg": [0.0, -75.0, 10.0, 0.0],
            "pitch_deg": [0.0] * 4,
            "touches_border": [False, False, False, True],
        }
    )
    decided = pl.from_arrow(FilterStage()(faces))
    assert decided.rows() == [
        ("tiny_blurry", "filtered", "too_small", ["too_small", "blurry"]),
        ("profile", "filtered", "profile", ["profile"]),
        ("fine", "ok", None, []),
        ("border", "ok", None, []),
    ]
    strict = pl.from_arrow(FilterStage(FilterParams(drop_border=True, max_abs_yaw_deg=0.0))(faces))
    assert strict["filter_reasons"].to_list() == [["too_small", "blurry"], [], [], ["at_border"]]  # yaw rule off at 0
