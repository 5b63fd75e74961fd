"""`facecorpus extract`'s summary and exit status: inputs counted as videos and stills, failures
never "already done", the ingest flow's failure-ratio gate, an empty corpus refused, one media
file as the corpus."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import fixture, run_ffmpeg

REPO = Path(__file__).resolve().parents[2]


def extract(corpus: Path, out: Path, *flags: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "flows.cli", "extract", str(corpus), "--out", str(out), "--no-progress", *flags]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """1 s of hamilton.mp4 at 2 fps of sampling: a short real video."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    run_ffmpeg("-i", str(fixture("hamilton.mp4")), "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-an", str(path))
    return path


def test_failures_are_counted_apart_and_gate_the_exit_status(clip, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(clip, corpus / "clip.mp4")
    shutil.copy(fixture("two_people.jpg"), corpus / "still.jpg")
    (corpus / "notes.mp4").write_text("not a video")
    (corpus / "empty.mov").write_bytes(b"")
    first = extract(corpus, tmp_path / "out")
    assert first.returncode == 1, first.stdout + first.stderr  # 2 of 4 failed > validate.max_failure_ratio 0.1
    assert "inputs: 4: 2 ok (1 videos, 1 stills), 2 failed (0 already done)" in first.stdout
    assert "failed: notes.mp4: not a readable video" in first.stdout and "failed: empty.mov: empty file" in first.stdout
    assert "2 of 4 inputs failed (50%), more than validate.max_failure_ratio 0.1" in first.stderr

    again = extract(corpus, tmp_path / "out", "--max-failure-ratio", "0.5")
    assert again.returncode == 0, again.stderr
    assert "2 failed (2 already done; 2 failures stored by an earlier run)" in again.stdout


def test_an_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("skipped")
    result = extract(tmp_path / "empty", tmp_path / "out")
    assert result.returncode == 2 and "no inputs (an empty folder or manifest)" in result.stderr
    assert not (tmp_path / "out" / "videos.parquet").exists()


def test_one_video_file_is_a_corpus_of_one(clip, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(clip, folder / "talk.mp4")
    (folder / "other.mp4").write_text("beside it, never read")
    result = extract(folder / "talk.mp4", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs: 1: 1 ok (1 videos, 0 stills)" in result.stdout
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    assert videos["uri"].to_list() == ["talk.mp4"] and videos["status"].to_list() == ["ok"]
    assert pl.read_parquet(tmp_path / "out" / "faces.parquet").height > 0
