"""The ingest flow's library half with pair-aware extraction: a shard's pool runs originals before their fakes.

Two workers (without waves the pool would start a fake beside its original): the original and a
hue-shifted fake of a 1.5 s cut of hamilton.mp4 in one shard; the fake is aligned and the real detector
runs for the original's frames only (the shard report's detect counts: frames the detector ran on).
"""

from __future__ import annotations

import time

import polars as pl

from pipeline.config import CurateOptions, IngestOptions, Options
from pipeline.runs.ingest import finish, prepare, run_shard
from tests.conftest import extract_options, fixture, run_ffmpeg
from tests.stages.test_pairing import ENCODE


def test_a_shards_pool_runs_the_original_first_and_the_fake_reuses_its_detections(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run_ffmpeg("-i", str(fixture("hamilton.mp4")), "-t", "1.5", *ENCODE, str(corpus / "b_orig.mp4"))
    run_ffmpeg("-i", str(corpus / "b_orig.mp4"), "-vf", "hue=h=90", *ENCODE, str(corpus / "a_fake.mp4"))
    (corpus / "manifest.csv").write_text("uri,label,original\na_fake.mp4,FAKE,b_orig.mp4\nb_orig.mp4,REAL,\n")
    options = Options(
        extract=extract_options(corpus / "manifest.csv", tmp_path / "out", sample="fps:2"),
        curate=CurateOptions(embedder="none"),
        ingest=IngestOptions(workers=2),
    )
    started = time.perf_counter()
    plan = prepare(options)
    assert [len(s.video_ids) for s in plan.shards] == [2]
    reports = [run_shard(options, shard, plan.shard_inputs(shard), cores=2) for shard in plan.shards]
    assert reports[0].pool_workers == 2
    finish(options, plan, reports, started)
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    fake = videos.filter(pl.col("uri") == "a_fake.mp4").row(0, named=True)
    assert fake["pair_mode"] == "aligned", fake["pair_reason"]
    assert reports[0].counts["detect"]["processed"] == videos.filter(pl.col("uri") == "b_orig.mp4")["frames_sampled"][0]
    pairs = pl.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert pairs.height == fake["faces_found"] and set(pairs["paired_by"]) == {"aligned"}
