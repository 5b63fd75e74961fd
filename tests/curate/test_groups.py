"""Identities, splits and fake-to-original pairs on a DFDC-style corpus made with ffmpeg from hamilton.mp4:
its close-up shot (one person) as the original, stored with its stream starting at 0.8 s; a re-encoded,
smaller copy; a hue-shifted "fake" whose stream starts at 0 (as a DFDC fake's does); a mirrored fake;
a fake whose original is not in the corpus. Real ffmpeg, CenterFace, dlib, GX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import CurateOptions
from pipeline.runs.extract import run_extract
from pipeline.validate.suites import validate_dataset
from schemas.manifests import FACES_MANIFEST, PAIRS_MANIFEST, SPLITS_MANIFEST
from tests.conftest import extract_options, fixture, run_ffmpeg

X264 = ("-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
FAKES = {"fake.mp4": "orig.mp4", "fake_flip.mp4": "orig.mp4", "lost_fake.mp4": "gone.mp4"}


def _metadata(root: Path, names: list[str]) -> None:
    meta = {n: {"label": "FAKE", "original": FAKES[n]} if n in FAKES else {"label": "REAL"} for n in names}
    (root / "metadata.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    media = tmp_path_factory.mktemp("groups_media")
    run_ffmpeg("-ss", "4.0", "-t", "3", "-i", str(fixture("hamilton.mp4")), *X264, "-output_ts_offset", "0.8", str(media / "orig.mp4"))
    orig = str(media / "orig.mp4")
    run_ffmpeg("-i", orig, "-vf", "scale=480:270", *X264[:-2], "-crf", "30", str(media / "copy.mp4"))
    run_ffmpeg("-i", orig, "-vf", "hue=h=90", *X264, str(media / "fake.mp4"))
    run_ffmpeg("-i", orig, "-vf", "hflip,hue=h=-60", *X264, str(media / "fake_flip.mp4"))
    run_ffmpeg("-i", orig, "-t", "1", "-vf", "hue=s=0.5", *X264, str(media / "lost_fake.mp4"))
    for name in ("two_people.jpg", "obama_and_biden.jpg"):
        shutil.copy(fixture(name), media / name)
    return media


def _corpus(media: Path, root: Path, names: list[str]) -> Path:
    root.mkdir(exist_ok=True)
    for name in names:
        if not (root / name).exists():
            shutil.copy(media / name, root / name)
    _metadata(root, names)
    return root


@pytest.fixture(scope="module")
def grown(media, tmp_path_factory):
    """The first corpus (original, copy, fake) extracted; then more videos added and extracted into the same dataset."""
    root, out = tmp_path_factory.mktemp("groups_corpus"), tmp_path_factory.mktemp("groups_out")
    first_names = ["orig.mp4", "copy.mp4", "fake.mp4"]
    options = extract_options(_corpus(media, root, first_names), out, sample="fps:2")
    first = run_extract(options, CurateOptions())
    before = pl.read_parquet(out / FACES_MANIFEST), pl.read_parquet(out / SPLITS_MANIFEST), pl.read_parquet(out / PAIRS_MANIFEST)
    _corpus(media, root, [*first_names, "fake_flip.mp4", "lost_fake.mp4", "two_people.jpg", "obama_and_biden.jpg"])
    second = run_extract(options, CurateOptions())
    return out, first, before, second


def test_original_copy_and_fake_are_one_identity_in_one_split(grown):
    out, first, (faces, _, _), _ = grown
    by_video = faces.group_by("uri").agg(pl.col("identity_id").unique(), pl.col("split_assigned").unique())
    assert sorted(by_video["uri"]) == ["copy.mp4", "fake.mp4", "orig.mp4"]
    assert faces["identity_id"].n_unique() == 1 and faces["identity_id"].null_count() == 0
    assert faces["split_assigned"].n_unique() == 1 and faces["split_assigned"].null_count() == 0
    assert first.curation.groups.identities == 1


def test_pair_table_links_every_fake_face_to_its_original_face(grown):
    out, _, (faces, _, pairs), _ = grown
    fake = faces.filter(pl.col("uri") == "fake.mp4")
    assert fake.height >= 5 and pairs.height == fake.height
    assert set(pairs["face_id"]) == set(fake["face_id"])
    originals = faces.filter(pl.col("uri") == "orig.mp4").select("face_id", "frame_index", "pts_s", "bbox_xyxy_px")
    joined = pairs.join(originals, left_on="original_face_id", right_on="face_id").join(
        fake.select("face_id", "frame_index", "pts_s"), on="face_id", suffix="_fake"
    )
    assert joined.height == pairs.height
    # the same place of the stream: the same frame index, though the pts differ by the stream's 0.8 s start
    assert (joined["frame_index"] == joined["frame_index_fake"]).all()
    assert ((joined["pts_s"] - joined["pts_s_fake"]).abs() - 0.8).abs().max() < 0.05
    assert (pairs["iou"] > 0.8).all() and not pairs["mirrored"].any() and (pairs["time_gap_s"].abs() < 0.05).all()
    assert dict(zip(faces["face_id"], faces["original_face_id"])) | {} == dict(
        zip(faces["face_id"], [dict(zip(pairs["face_id"], pairs["original_face_id"])).get(f) for f in faces["face_id"]])
    )


def test_mirrored_fake_is_paired_mirrored(grown):
    out, *_ = grown
    faces, pairs = pl.read_parquet(out / FACES_MANIFEST), pl.read_parquet(out / PAIRS_MANIFEST)
    flip = faces.filter(pl.col("uri") == "fake_flip.mp4")
    flip_pairs = pairs.filter(pl.col("video_id") == flip["video_id"][0])
    assert flip.height >= 5 and flip_pairs.height == flip.height
    assert flip_pairs["mirrored"].all() and (flip_pairs["iou"] > 0.7).all()


def test_splits_stay_put_when_videos_are_added(grown):
    out, _, (faces_before, splits_before, _), second = grown
    faces_after = pl.read_parquet(out / FACES_MANIFEST)
    kept = faces_before.select("face_id", "split_assigned", "identity_id").join(
        faces_after.select("face_id", "split_assigned", "identity_id"), on="face_id", suffix="_after"
    )
    assert kept.height == faces_before.height
    assert (kept["split_assigned"] == kept["split_assigned_after"]).all()
    assert (kept["identity_id"] == kept["identity_id_after"]).all()
    splits_after = pl.read_parquet(out / SPLITS_MANIFEST)
    old = splits_before.join(splits_after, on="group_key", suffix="_after")
    assert old.height == splits_before.height and (old["split"] == old["split_after"]).all()
    assert splits_after.height > splits_before.height and second.curation.groups.groups_moved == 0
    # the added fakes of the original joined its group
    flip = faces_after.filter(pl.col("uri") == "fake_flip.mp4")
    assert set(flip["split_assigned"]) == set(faces_before["split_assigned"])
    # the stills' people are other identities
    stills = faces_after.filter(pl.col("uri").is_in(["two_people.jpg", "obama_and_biden.jpg"]))
    assert not set(stills["identity_id"]) & set(faces_before["identity_id"])


def test_contracts_pass_and_warn_about_the_missing_original(grown, tmp_path):
    out, _, _, second = grown
    assert second.curation.groups.missing_originals == ["lost_fake.mp4 -> gone.mp4"]
    report = validate_dataset(out, reports_dir=tmp_path, build_docs=False)
    assert report.passed, report.errors
    warned = [w for w in report.warnings if w.check == "originals.original_in_corpus"]
    assert len(warned) == 1 and "lost_fake.mp4" in json.dumps(json.loads((tmp_path / "validation.json").read_text()))


def test_a_group_spanning_two_splits_fails_the_contract(grown, tmp_path):
    out, *_ = grown
    broken = tmp_path / "broken"
    shutil.copytree(
        out, broken, ignore=shutil.ignore_patterns("work", "curation", "reports", "manifests.json")
    )  # no commit file: a hand-edited copy
    faces = pl.read_parquet(broken / FACES_MANIFEST)
    fake = faces["uri"] == "fake.mp4"
    other = next(s for s in ("train", "val", "test") if s != faces.filter(fake)["split_assigned"][0])
    faces.with_columns(split_assigned=pl.when(fake).then(pl.lit(other)).otherwise(pl.col("split_assigned"))).write_parquet(
        broken / FACES_MANIFEST
    )
    report = validate_dataset(broken, reports_dir=tmp_path / "reports", build_docs=False)
    failed = {e.check for e in report.errors}
    assert {"groups.faces_one_split", "groups.faces_match_registry", "originals.fake_and_original_one_split"} <= failed


def test_select_a_split_identities_and_balanced_pairs(grown, tmp_path):
    from flows.cli import main as facecorpus

    out, _, (first_faces, _, _), _ = grown
    faces = pl.read_parquet(out / FACES_MANIFEST)
    split = first_faces["split_assigned"][0]
    assert facecorpus(["select", str(out), "--out", str(tmp_path / "a"), "--split", split, "--near-duplicate-videos"]) == 0
    view = pl.read_parquet(tmp_path / "a" / "selection.parquet")
    assert view.height > 0 and set(view["split_assigned"]) == {split}
    kept = faces.filter(pl.col("status") == "ok").group_by("identity_id").len()
    big = kept.filter(pl.col("len") >= 10)["identity_id"].to_list()
    assert big and kept.filter(pl.col("len") < 10).height > 0  # the stills' people have a face each
    code = facecorpus(["select", str(out), "--out", str(tmp_path / "b"), "--min-identity-faces", "10", "--near-duplicate-videos"])
    assert code == 0 and set(pl.read_parquet(tmp_path / "b" / "selection.parquet")["identity_id"]) == set(big)
    assert facecorpus(["select", str(out), "--out", str(tmp_path / "c"), "--balanced-pairs", "--per-track", "3"]) == 0
    view = pl.read_parquet(tmp_path / "c" / "selection.parquet")
    fake, real = view.filter(pl.col("original_face_id").is_not_null()), view.filter(pl.col("original_face_id").is_null())
    assert fake.height > 0 and fake.height == real.height
    assert set(fake["original_face_id"]) == set(real["face_id"])
    assert set(real["uri"]) == {"orig.mp4"} and set(fake["uri"]) <= {"fake.mp4", "fake_flip.mp4"}


def test_dataset_api_exposes_identities_splits_and_pairs(grown, tmp_path):
    from pipeline.dataset import load
    from pipeline.release.pack import pack_dataset

    out, *_ = grown
    pack_dataset(out, tmp_path / "release")
    ds = load(tmp_path / "release")
    faces = ds.faces.collect()
    identities = ds.identities.collect()
    assert set(identities["identity_id"]) == set(faces["identity_id"]) and "centroid" not in identities.columns
    assert identities["faces"].sum() == faces.height
    pairs = ds.pairs.collect()
    assert pairs.height > 0 and set(pairs["original_face_id"]) <= set(faces["face_id"])
    for name in set(faces["split_assigned"]):
        assert ds.split(name).collect().height == faces.filter(pl.col("split_assigned") == name).height
    assert set(ds.splits.collect()["group_key"]) >= {f"identity:{i}" for i in identities["identity_id"]}
    assert ds.embeddings.collect()["face_id"].is_in(faces["face_id"].implode()).all()
    assert ds.identity_aliases == {}
