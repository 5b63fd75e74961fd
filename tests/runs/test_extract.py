"""End-to-end extraction on the real fixtures: counts, manifests, failures, idempotence, resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipeline.fsutil import sha256_file
from pipeline.runs.extract import run_extract
from pipeline.stages.workdir import DONE_MARKER
from schemas.manifests import FACES_SCHEMA, VIDEOS_SCHEMA
from tests.conftest import STILL_FACES, extract_options, fixture, make_rotated_copy, run_ffmpeg, tree_state

REPO = Path(__file__).resolve().parents[2]


def test_still_and_hamilton_counts(extracted):
    out, summary = extracted
    faces = pl.read_parquet(out / "faces.parquet")
    per_uri = dict(faces.group_by("uri").len().iter_rows())
    for name, count in STILL_FACES.items():
        assert per_uri[name] == count
    assert per_uri["hamilton.mp4"] >= 20
    assert summary.videos_ok == 5 and summary.videos_failed == 0
    assert summary.frames_sampled == 4 + 10


def test_manifests_follow_the_schemas(extracted):
    out, _ = extracted
    videos, faces = pq.read_table(out / "videos.parquet"), pq.read_table(out / "faces.parquet")
    assert videos.schema.equals(VIDEOS_SCHEMA) and faces.schema.equals(FACES_SCHEMA)
    assert videos.num_rows == 5
    f = pl.from_arrow(faces)
    assert f["face_id"].n_unique() == f.height
    assert set(f["video_id"]) <= set(pl.from_arrow(videos)["video_id"])
    ham = pl.from_arrow(videos).filter(pl.col("uri") == "hamilton.mp4").row(0, named=True)
    assert ham["video_id"] == sha256_file(fixture("hamilton.mp4"))
    assert ham["frames_sampled"] == 10 and ham["faces_found"] == f.filter(pl.col("uri") == "hamilton.mp4").height


def test_every_crop_exists_with_its_hash_and_size(extracted):
    out, _ = extracted
    import cv2

    for row in pl.read_parquet(out / "faces.parquet").iter_rows(named=True):
        path = out / row["crop_path"]
        assert sha256_file(path) == row["crop_sha256"]
        assert row["crop_path"] == f"crops/{row['crop_sha256'][:2]}/{row['crop_sha256']}.png"
        assert cv2.imread(str(path)).shape == (112, 112, 3)
        x1, y1, x2, y2 = row["bbox_xyxy_px"]
        assert 0 <= x1 < x2 <= row["frame_width_px"] and 0 <= y1 < y2 <= row["frame_height_px"]


def test_a_second_run_writes_nothing(extracted, fixture_corpus):
    out, first = extracted
    before = tree_state(out)
    again = run_extract(extract_options(fixture_corpus, out))
    assert tree_state(out) == before
    assert again.videos_reused == 5 and again.frames_sampled == 0 and again.faces == first.faces


def test_rotated_copy_gives_upright_crops_and_the_same_count(extracted, tmp_path):
    out, _ = extracted
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_rotated_copy(fixture("hamilton.mp4"), corpus / "rotated.mp4")
    result = tmp_path / "out"
    run_extract(extract_options(corpus, result))
    rotated = pl.read_parquet(result / "faces.parquet")
    original = pl.read_parquet(out / "faces.parquet").filter(pl.col("uri") == "hamilton.mp4")
    assert rotated.height == original.height
    assert rotated.select("frame_width_px", "frame_height_px").unique().rows() == [(640, 360)]
    video = pl.read_parquet(result / "videos.parquet").row(0, named=True)
    assert video["rotation_deg"] == 90 and (video["width_px"], video["height_px"]) == (640, 360)
    for lms in rotated["landmarks5_px"].to_list():
        eyes_y, mouth_y = max(lms[1], lms[3]), min(lms[7], lms[9])
        assert eyes_y < mouth_y  # upright: eyes above the mouth


@pytest.fixture
def bad_corpus(tmp_path) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    shutil.copy(fixture("two_people.jpg"), root / "good.jpg")
    (root / "zero.mp4").touch()
    data = fixture("hamilton.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "notes.mp4").write_text("this is not a video\n" * 20)
    os.symlink(root / "missing-target.mp4", root / "dangling.mp4")
    os.mkfifo(root / "pipe.mp4")
    return root


def test_bad_inputs_become_failed_rows_and_the_run_goes_on(bad_corpus, tmp_path):
    summary = run_extract(extract_options(bad_corpus, tmp_path / "out"))
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    status = {r["uri"]: (r["status"], r["error"]) for r in videos.iter_rows(named=True)}
    assert status["good.jpg"] == ("ok", None)
    kinds = {r["uri"]: r["error_kind"] for r in videos.iter_rows(named=True)}
    assert kinds == {"good.jpg": None, **{u: "permanent" for u in status if u != "good.jpg"}}
    assert status["zero.mp4"] == ("failed", "zero.mp4: empty file (0 bytes)")
    assert status["notes.mp4"] == ("failed", "notes.mp4: not a readable video or image (Invalid data found when processing input)")
    assert status["truncated.mp4"][0] == "failed" and status["truncated.mp4"][1].startswith("truncated.mp4: ")
    assert status["dangling.mp4"] == ("failed", "dangling.mp4: dangling link")
    assert status["pipe.mp4"] == ("failed", "pipe.mp4: not a regular file")
    assert summary.videos_ok == 1 and summary.videos_failed == 5
    assert pl.read_parquet(tmp_path / "out" / "faces.parquet").height == 2


def test_duplicates_are_one_video_and_corpus_fields_reach_every_face(tmp_path):
    root = tmp_path / "dfdc"
    root.mkdir()
    shutil.copy(fixture("two_people.jpg"), root / "a.jpg")
    shutil.copy(fixture("two_people.jpg"), root / "b.jpg")
    shutil.copy(fixture("obama_and_biden.jpg"), root / "c.jpg")
    meta = {"a.jpg": {"label": "REAL", "split": "train"}, "c.jpg": {"label": "FAKE", "original": "a.jpg", "split": "test"}}
    (root / "metadata.json").write_text(json.dumps(meta))
    run_extract(extract_options(root, tmp_path / "out"))
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    assert videos["uri"].to_list() == ["a.jpg", "c.jpg"]
    assert videos.row(0, named=True)["duplicate_uris"] == ["b.jpg"]
    faces = pl.read_parquet(tmp_path / "out" / "faces.parquet")
    assert faces.filter(pl.col("uri") == "a.jpg").select("label", "split").unique().rows() == [("REAL", "train")]
    assert faces.filter(pl.col("uri") == "c.jpg").select("label", "original", "split").unique().rows() == [("FAKE", "a.jpg", "test")]


def test_changing_a_parameter_redoes_the_work_and_changes_the_crops(extracted, fixture_corpus, tmp_path):
    out, _ = extracted
    target = tmp_path / "ffhq"
    shutil.copytree(out, target)
    summary = run_extract(extract_options(fixture_corpus, target, preset="ffhq", size=256))
    assert summary.videos_detected == 0 and summary.videos_aligned == 5  # the detector never ran
    faces = pl.read_parquet(target / "faces.parquet")
    base = pl.read_parquet(out / "faces.parquet")
    assert faces["face_id"].to_list() == base["face_id"].to_list()  # same detections
    assert faces["crop_size_px"].unique().to_list() == [256]
    assert not set(faces["crop_sha256"]) & set(base["crop_sha256"])


def _cli(corpus: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "extract", str(corpus), "--out", str(out), "--no-progress", "--sample", "fps:3"]


@pytest.fixture(scope="module")
def four_videos(tmp_path_factory) -> Path:
    """Four distinct short clips (different bytes), so a run has several videos to finish."""
    root = tmp_path_factory.mktemp("four")
    for i in range(4):
        run_ffmpeg(
            "-ss",
            str(i * 2),
            "-t",
            "2",
            "-i",
            str(fixture("hamilton.mp4")),
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(root / f"part{i}.mp4"),
        )
    return root


def test_a_killed_run_resumes_to_the_same_result(four_videos, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(_cli(four_videos, whole), check=True, cwd=REPO, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(four_videos, killed), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list(killed.glob(f"work/*/align-*/{DONE_MARKER}")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = len(list(killed.glob(f"work/*/align-*/{DONE_MARKER}")))
    assert 1 <= done < 4 and not (killed / "faces.parquet").exists()
    result = subprocess.run(_cli(four_videos, killed), check=True, cwd=REPO, capture_output=True, text=True)
    assert f"({done} already done)" in result.stdout
    for name in ("videos.parquet", "faces.parquet"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes()
    crops = lambda d: sorted(p.name for p in (d / "crops").rglob("*.png"))  # noqa: E731
    assert crops(killed) == crops(whole)
