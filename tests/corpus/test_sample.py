"""The bundled sample corpus: deterministic bytes, upright rotated clip, faces found."""

from __future__ import annotations

import polars as pl

from pipeline.corpus.sample import build_sample_corpus
from pipeline.fsutil import sha256_file
from pipeline.media.probe import probe
from pipeline.runs.extract import run_extract
from tests.conftest import extract_options


def test_sample_corpus_is_deterministic_and_extracts(tmp_path):
    first = build_sample_corpus(tmp_path / "a")
    second = build_sample_corpus(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert [sha256_file(p) for p in first] == [sha256_file(p) for p in second]
    assert sum(p.stat().st_size for p in first) < 5_000_000
    rotated = probe(tmp_path / "a" / "astronaut_rotated.mp4")
    assert rotated.rotation_deg == 90 and rotated.display_size_px == (384, 512)

    summary = run_extract(extract_options(tmp_path / "a" / "manifest.csv", tmp_path / "out"))
    assert summary.videos_ok == 5 and summary.videos_failed == 0
    faces = pl.read_parquet(tmp_path / "out" / "faces.parquet")
    per_uri = dict(faces.group_by("uri").len().iter_rows())
    assert per_uri["t1.jpg"] == 6 and per_uri["tom_hanks.png"] == 1 and per_uri["astronaut.png"] == 1
    assert per_uri["astronaut_rotated.mp4"] == 3  # one upright face in each of 3 frames
    assert faces.filter(pl.col("uri") == "astronaut.png")["license"].to_list() == ["public-domain"]
    assert faces["consent"].unique().to_list() == ["demo-only"]
