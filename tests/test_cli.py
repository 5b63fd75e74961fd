"""The facecorpus command line, run as a user runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from tests.conftest import fixture

REPO = Path(__file__).resolve().parents[1]


def facecorpus(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("facecorpus")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=REPO)


def test_help_shows_every_default():
    result = facecorpus("extract", "--help")
    assert result.returncode == 0
    options = re.findall(r"^\s+(--[a-z-]+)", result.stdout, flags=re.M)
    text = " ".join(result.stdout.split())
    assert {"--sample", "--detector", "--preset", "--det-max-side", "--score-threshold"} <= set(options)
    for option in options:
        if option in ("--help", "--no-progress", "--out"):
            continue
        section = text.split(option, 2)[-1].split(" --", 1)[0]
        assert "(default:" in section, f"{option} shows no default"
    assert "(default: fps:1)" in text and "(default: centerface)" in text and "(default: arcface)" in text


def test_extract_prints_a_summary_and_records_failures(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    (corpus / "broken.mp4").write_bytes(b"\x00" * 1000)
    result = facecorpus("extract", str(corpus), "--out", str(tmp_path / "out"), "--no-progress", "--preset", "ffhq", "--size", "256", "--crop-format", "jpg")
    assert result.returncode == 0, result.stderr
    assert "videos: 1 ok, 1 failed" in result.stdout
    assert "faces: 2" in result.stdout and "frames/s:" in result.stdout and "wall time:" in result.stdout
    assert f"manifests: {tmp_path / 'out' / 'videos.parquet'}" in result.stdout
    assert "failed: broken.mp4: " in result.stdout
    faces = pl.read_parquet(tmp_path / "out" / "faces.parquet")
    assert faces["crop_path"].str.ends_with(".jpg").all() and faces["preset"].unique().to_list() == ["ffhq:256:margin=0"]


def test_bad_arguments_give_a_clear_error(tmp_path):
    result = facecorpus("extract", str(tmp_path), "--out", str(tmp_path / "o"), "--sample", "fps:zero")
    assert result.returncode == 2 and "bad sampling spec 'fps:zero'" in result.stderr
    result = facecorpus("extract", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_params_file_sets_defaults_and_flags_win(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    params = tmp_path / "params.yaml"
    params.write_text(f"extract:\n  corpus: {corpus}\n  out: {tmp_path / 'out'}\n  preset: ffhq\n  size: 256\n")
    result = facecorpus("extract", "--params", str(params), "--no-progress", "--size", "512")
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(tmp_path / "out" / "faces.parquet")["preset"].unique().to_list() == ["ffhq:512:margin=0"]
    params.write_text("extract:\n  colour: red\n")
    result = facecorpus("extract", "--params", str(params))
    assert result.returncode == 2 and "unknown keys in 'extract': colour" in result.stderr
