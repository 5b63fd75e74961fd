"""Pair-aware extraction on ffmpeg-made fakes of hamilton.mp4: one detection per original, exact pairs,
difference masks, unchanged "fakes" filtered, fakes in their original's split.

The corpus: a 2 s cut of hamilton.mp4 as the original and fakes made from it with ffmpeg: a hue shift,
a blurred face region, an exact copy (remuxed, so other bytes, same frames) labelled FAKE, a horizontal
flip, and three more that are not frame-aligned (a shorter cut, a re-timed copy, a downscaled copy).
The real CenterFace detector runs; its ``detect`` method is wrapped by a counter that calls through.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest

from pipeline.config import CurateOptions
from pipeline.dataset import Dataset, _tar_index
from pipeline.detection.registry import make_detector
from pipeline.media.ffmpeg import Frame
from pipeline.records import MediaInfo
from pipeline.release.card import _curation, _curation_lines
from pipeline.release.pack import pack_dataset
from pipeline.report.build import ReportRequest, build_report
from pipeline.runs.extract import run_extract
from pipeline.stages.frames import phash_hex, thumbnail
from pipeline.stages.pairing import FrameAligner, NotAligned, OriginalWork
from pipeline.validate.suites import validate_dataset
from tests.conftest import extract_options, fixture, run_ffmpeg

ENCODE = ("-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18")
ALIGNED_FAKES = ("hue.mp4", "blur.mp4", "copy.mp4")
UNALIGNED = {"flip.mp4": "content", "short.mp4": "frames against", "retimed.mp4": "re-timed", "small.mp4": "frame size"}


class CountingDetector:
    """Counts the real detector's calls (and calls it): installed on the registry's loaded instance."""

    def __init__(self, detector) -> None:
        self.detector, self.real, self.calls = detector, detector.detect, 0

    def __enter__(self) -> CountingDetector:
        def counted(image):
            self.calls += 1
            return self.real(image)

        self.detector.detect = counted
        return self

    def __exit__(self, *exc) -> None:
        self.detector.detect = self.real


def _blur_box(original, options) -> tuple[int, int, int, int]:
    """x, y, w, h (even) around the largest face of the original's first frame, grown by 30% each side."""
    cap = cv2.VideoCapture(str(original))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    faces = make_detector(options.detector_config()).detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    x1, y1, x2, y2 = max(faces, key=lambda f: f.bbox_xyxy_px[2] - f.bbox_xyxy_px[0]).bbox_xyxy_px
    w, h = x2 - x1, y2 - y1
    return int(x1 - 0.3 * w), int(y1 - 0.3 * h), int(1.6 * w) // 2 * 2, int(1.6 * h) // 2 * 2


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    corpus = root / "corpus"
    corpus.mkdir()
    orig = corpus / "orig.mp4"
    run_ffmpeg("-i", str(fixture("hamilton.mp4")), "-t", "2", *ENCODE, str(orig))
    options = extract_options(corpus / "manifest.csv", root / "out", sample="fps:2")
    x, y, w, h = _blur_box(orig, options)
    blur = f"[0:v]crop={w}:{h}:{x}:{y},boxblur=10:2[b];[0:v][b]overlay={x}:{y}"
    made = {
        "hue.mp4": ("-vf", "hue=h=90", *ENCODE),
        "blur.mp4": ("-filter_complex", blur, *ENCODE),
        "copy.mp4": ("-c", "copy", "-metadata", "comment=fake"),
        "flip.mp4": ("-vf", "hflip", *ENCODE),
        "short.mp4": ("-t", "1", *ENCODE),
        "retimed.mp4": ("-vf", "setpts=1.5*PTS", *ENCODE),
        "small.mp4": ("-vf", "scale=320:180", *ENCODE),
    }
    for name, args in made.items():
        run_ffmpeg("-i", str(orig), *args, str(corpus / name))
    rows = ["uri,label,original", "orig.mp4,REAL,", *(f"{name},FAKE,orig.mp4" for name in made)]
    (corpus / "manifest.csv").write_text("\n".join(rows) + "\n")
    with CountingDetector(make_detector(options.detector_config())) as counter:
        summary = run_extract(options, CurateOptions(embedder="none"))
    out = root / "out"
    videos = pl.read_parquet(out / "videos.parquet")
    return {
        "options": options,
        "out": out,
        "calls": counter.calls,
        "summary": summary,
        "videos": videos,
        "faces": pl.read_parquet(out / "faces.parquet"),
        "pairs": pl.read_parquet(out / "pairs.parquet"),
        "blur_box": (x, y, w, h),
    }


def _video(paired, uri: str) -> dict:
    return paired["videos"].filter(pl.col("uri") == uri).row(0, named=True)


def test_the_detector_runs_for_the_original_and_the_unaligned_fakes_only(paired):
    videos = paired["videos"]
    assert videos["status"].to_list() == ["ok"] * videos.height
    detected = videos.filter(pl.col("pair_mode").is_null() | (pl.col("pair_mode") == "own_detection"))
    assert sorted(detected["uri"]) == sorted(["orig.mp4", *UNALIGNED])
    assert paired["calls"] == detected["frames_sampled"].sum()  # no call for the three aligned fakes
    assert paired["summary"].counts["detect"].processed == paired["calls"]
    for uri in ALIGNED_FAKES:
        assert _video(paired, uri)["pair_mode"] == "aligned"
        assert _video(paired, uri)["frames_sampled"] == _video(paired, "orig.mp4")["frames_sampled"]


def test_unaligned_fakes_fall_back_to_their_own_detection_with_the_reason(paired):
    for uri, why in UNALIGNED.items():
        row = _video(paired, uri)
        assert row["pair_mode"] == "own_detection", uri
        assert why in row["pair_reason"], (uri, row["pair_reason"])
    assert _video(paired, "flip.mp4")["faces_found"] >= 1  # its own faces, paired by Curation II mirrored
    flip = paired["pairs"].filter(pl.col("video_id") == _video(paired, "flip.mp4")["video_id"])
    assert flip.height >= 1 and set(flip["paired_by"]) == {"matched"} and flip["mirrored"].all()


def test_aligned_fakes_faces_are_their_originals_faces_cut_from_their_own_frames(paired):
    faces, pairs = paired["faces"], paired["pairs"]
    orig = faces.filter(pl.col("uri") == "orig.mp4")
    by_place = {(r["frame_index"], r["face_index"]): r for r in orig.iter_rows(named=True)}
    for uri in ALIGNED_FAKES:
        fake = faces.filter(pl.col("uri") == uri)
        assert fake.height == orig.height
        for r in fake.iter_rows(named=True):
            twin = by_place[(r["frame_index"], r["face_index"])]
            assert r["original_face_id"] == twin["face_id"]
            assert r["affine_2x3"] == twin["affine_2x3"] and r["bbox_xyxy_px"] == twin["bbox_xyxy_px"]
            assert r["face_id"] != twin["face_id"]
        rows = pairs.filter(pl.col("video_id") == fake["video_id"][0])
        assert rows.height == fake.height and set(rows["paired_by"]) == {"aligned"} and (rows["iou"] == 1.0).all()
    copy = faces.filter(pl.col("uri") == "copy.mp4")
    assert copy["crop_sha256"].to_list() == orig["crop_sha256"].to_list()  # the same pixels, the same affines
    hue = faces.filter(pl.col("uri") == "hue.mp4")
    assert not set(hue["crop_sha256"]) & set(orig["crop_sha256"])  # cut from the fake's own frames


def _region_in_crop(box, affine, size: int, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The blurred rectangle and the frame, mapped into the crop by the face's affine (boolean masks)."""
    x, y, w, h = box
    rect = np.zeros((frame_size[1], frame_size[0]), np.uint8)
    rect[y : y + h, x : x + w] = 1
    m = np.asarray(affine, np.float64).reshape(2, 3)
    inside = cv2.warpAffine(rect, m, (size, size), flags=cv2.INTER_NEAREST).astype(bool)
    frame = cv2.warpAffine(np.ones_like(rect), m, (size, size), flags=cv2.INTER_NEAREST).astype(bool)
    return inside, frame


def test_masks_light_up_inside_the_blurred_region_and_not_outside(paired):
    out, box = paired["out"], paired["blur_box"]
    rows = paired["pairs"].join(
        paired["faces"].select("face_id", "affine_2x3", "crop_size_px", "frame_width_px", "frame_height_px"), on="face_id"
    )
    blur = rows.filter(pl.col("video_id") == _video(paired, "blur.mp4")["video_id"])
    lit = dark = 0
    for r in blur.iter_rows(named=True):
        mask = cv2.imread(str(out / r["mask_path"]), cv2.IMREAD_UNCHANGED)
        assert mask is not None and mask.ndim == 2 and mask.shape == (r["crop_size_px"], r["crop_size_px"])
        inside, frame = _region_in_crop(box, r["affine_2x3"], r["crop_size_px"], (r["frame_width_px"], r["frame_height_px"]))
        # The blur's edge pixels mix both sides (SSIM's window): compare away from the region's border.
        core = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        away = cv2.erode((frame & ~inside).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        diff = mask / 255.0
        if core.sum() > 0.25 * mask.size:
            assert diff[core].mean() > 0.3, r["face_id"]
            assert r["mask_changed_share"] > 0.5
            lit += 1
        if away.any():
            assert diff[away].mean() < 0.05, r["face_id"]
            dark += int(away.sum() > 0.25 * mask.size)
    assert lit >= 1 and dark >= 1  # the blurred face lit, faces (or parts) outside dark
    hue = rows.filter(pl.col("video_id") == _video(paired, "hue.mp4")["video_id"])
    assert (hue["mask_mean_diff"] > 0.1).all()  # a colour change shows, though the luma barely moves


def test_the_exact_copys_faces_are_filtered_unchanged_pair_and_changed_ones_are_not(paired):
    faces = paired["faces"]
    copy = faces.filter(pl.col("uri") == "copy.mp4")
    assert copy.height >= 1 and (copy["status"] == "filtered").all()
    assert all("unchanged_pair" in reasons for reasons in copy["filter_reasons"])
    for uri in ("hue.mp4", "orig.mp4", "flip.mp4"):
        assert not any("unchanged_pair" in reasons for reasons in faces.filter(pl.col("uri") == uri)["filter_reasons"]), uri
    blurred = faces.filter(pl.col("uri") == "blur.mp4").join(paired["pairs"].select("face_id", "mask_mean_diff"), on="face_id")
    assert not any("unchanged_pair" in r for r in blurred.filter(pl.col("mask_mean_diff") > 0.3)["filter_reasons"])
    assert paired["summary"].curation.failed_rules["unchanged_pair"] >= copy.height


def test_a_fake_and_its_original_share_a_split_checked_by_the_contract(paired, tmp_path):
    faces = paired["faces"]
    by_video = faces.group_by("uri").agg(pl.col("split_assigned").unique())
    assert by_video["split_assigned"].list.len().max() == 1
    assert faces["split_assigned"].n_unique() == 1
    report = validate_dataset(paired["out"], reports_dir=tmp_path, build_docs=False, only=["videos", "faces", "originals"])
    assert report.passed, report.errors


def test_a_rerun_detects_nothing_and_pair_aware_off_detects_every_fake(paired, tmp_path):
    options = paired["options"]
    before = (paired["out"] / "pairs.parquet").read_bytes()
    stored = sorted((paired["out"] / "curation").glob("*/masks-*/masks.parquet"))
    assert len(stored) == len(ALIGNED_FAKES)  # each aligned fake's masks, stored as curation work
    mtimes = [p.stat().st_mtime_ns for p in stored]
    with CountingDetector(make_detector(options.detector_config())) as counter:
        run_extract(options, CurateOptions(embedder="none"))
    assert counter.calls == 0 and (paired["out"] / "pairs.parquet").read_bytes() == before
    assert [p.stat().st_mtime_ns for p in stored] == mtimes  # reused, not computed again
    off = extract_options(options.corpus, tmp_path / "off", sample=options.sample, pair_aware=False)
    with CountingDetector(make_detector(off.detector_config())) as counter:
        run_extract(off, CurateOptions(embedder="none"))
    videos = pl.read_parquet(tmp_path / "off" / "videos.parquet")
    assert counter.calls == videos["frames_sampled"].sum()
    fakes = videos.filter(pl.col("uri") != "orig.mp4")
    assert set(fakes["pair_mode"]) == {"own_detection"} and set(fakes["pair_reason"]) == {"extract.pair_aware is off"}
    # Turned on again over that folder: the fakes are decided again, and the manifests equal a fresh run's.
    with CountingDetector(make_detector(off.detector_config())) as counter:
        run_extract(replace(off, pair_aware=True), CurateOptions(embedder="none"))
    assert counter.calls == paired["videos"].filter(pl.col("uri").is_in(list(UNALIGNED)))["frames_sampled"].sum()
    for name in ("videos.parquet", "faces.parquet", "pairs.parquet"):
        again = pl.read_parquet(tmp_path / "off" / name).drop("split_assigned", strict=False)
        assert again.equals(pl.read_parquet(paired["out"] / name).drop("split_assigned", strict=False)), name


def _media(**changes) -> MediaInfo:
    base = {"container": "mp4", "video_codec": "h264", "width_px": 64, "height_px": 48, "rotation_deg": 0, "duration_s": 1.0,
            "fps": 10.0, "frame_count": 10, "has_audio": False, "is_image": False}  # fmt: skip
    return MediaInfo(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"width_px": 32}, "frame size"),
        ({"frame_count": 11}, "frames against"),
        ({"is_image": True}, "still image"),
        ({"fps": 15.0}, "re-timed"),
        ({"duration_s": 1.5}, "re-timed"),
    ],
)
def test_a_probe_that_differs_is_not_aligned(changes, why):
    work = OriginalWork("o", {}, (0.0,), ("0" * 16,), _media())
    assert why in work.media_mismatch(_media(**changes))
    assert work.media_mismatch(_media(container="matroska")) is None


def test_frames_off_the_originals_times_or_count_are_not_aligned():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    phash = phash_hex(cv2.cvtColor(thumbnail(image), cv2.COLOR_RGB2GRAY))
    work = OriginalWork("o", {}, (0.0, 0.5), (phash, phash), _media())
    aligner = FrameAligner(work, lambda v, t, i, o: f"{v}{t}{i}{o}")
    aligner.check(Frame(0, 3.0, image))
    with pytest.raises(NotAligned, match="off the original's time"):
        aligner.check(Frame(1, 3.6, image))  # 0.6 s from the first, against 0.5 s
    short = FrameAligner(work, lambda v, t, i, o: "")
    short.check(Frame(0, 0.0, image))
    with pytest.raises(NotAligned, match="1 sampled frames against the original's 2"):
        short.finish()
    flipped = FrameAligner(work, lambda v, t, i, o: "")
    with pytest.raises(NotAligned, match="content"):
        flipped.check(Frame(0, 0.0, image[:, ::-1].copy()))


def test_release_shards_carry_each_aligned_fakes_mask_beside_its_crop(paired, tmp_path):
    pack_dataset(paired["out"], tmp_path / "release")
    members = {}
    for shard in sorted((tmp_path / "release" / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            members |= {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    masked = paired["pairs"].filter(pl.col("mask_path").is_not_null())
    assert masked.height == paired["faces"].filter(pl.col("uri").is_in(list(ALIGNED_FAKES))).height
    for row in masked.iter_rows(named=True):
        assert members[f"{row['face_id']}.mask.png"] == (paired["out"] / row["mask_path"]).read_bytes()
        meta = json.loads(members[f"{row['face_id']}.json"])
        assert meta["original_face_id"] == row["original_face_id"] and meta["paired_by"] == "aligned"
    orig_ids = paired["faces"].filter(pl.col("uri") == "orig.mp4")["face_id"]
    assert not any(f"{face_id}.mask.png" in members for face_id in orig_ids)
    assert "original_face_id" not in json.loads(members[f"{orig_ids[0]}.json"])


def test_a_fake_stored_without_a_pair_decision_is_redone_from_its_original(paired, tmp_path):
    """Work stored when the manifest named no original (as all work before pair-aware extraction): once the
    original is named, the fake is redone, aligned from the original's stored work, with no detection."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("orig.mp4", "hue.mp4"):
        (corpus / name).write_bytes((Path(paired["options"].corpus).parent / name).read_bytes())
    manifest = corpus / "manifest.csv"
    options = replace(paired["options"], corpus=str(manifest), out=str(tmp_path / "out"))
    manifest.write_text("uri,label\norig.mp4,REAL\nhue.mp4,FAKE\n")
    run_extract(options, CurateOptions(embedder="none"))
    before = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    assert before["pair_mode"].to_list() == [None, None]
    manifest.write_text("uri,label,original\norig.mp4,REAL,\nhue.mp4,FAKE,orig.mp4\n")
    with CountingDetector(make_detector(options.detector_config())) as counter:
        run_extract(options, CurateOptions(embedder="none"))
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet").sort("uri")
    assert videos["pair_mode"].to_list() == ["aligned", None] and counter.calls == 0
    pairs = pl.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert pairs.height > 0 and set(pairs["paired_by"]) == {"aligned"}


def test_a_release_loads_each_face_with_its_crop_and_an_aligned_fakes_mask(paired, tmp_path):
    """The loader hands out crops as crops and masks as masks: by sample, by face id, and from a shard's own
    index (the one an erasure's repack is read through)."""
    pack_dataset(paired["out"], tmp_path / "release", shard_mb=0.05)  # several shards
    release = Dataset(tmp_path / "release")
    masks = dict(paired["pairs"].filter(pl.col("mask_path").is_not_null()).select("face_id", "mask_path").iter_rows())
    faces = dict(paired["faces"].select("face_id", "crop_path").iter_rows())
    read = lambda path, flag: cv2.imread(str(paired["out"] / path), flag)  # noqa: E731
    samples = list(release.iter_samples())
    assert len(samples) == len(faces) and masks
    for sample in samples:
        crop = cv2.cvtColor(read(faces[sample.face_id], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(sample.image_rgb, crop) and np.array_equal(release.read_crop(sample.face_id), crop)
        mask = read(masks[sample.face_id], cv2.IMREAD_GRAYSCALE) if sample.face_id in masks else None
        for got in (sample.mask, release.read_mask(sample.face_id)):
            assert (got is None) if mask is None else (got.shape == mask.shape[:2] and np.array_equal(got, mask))
    locations = pl.read_parquet(tmp_path / "release" / "crop_locations.parquet")
    for shard, rows in locations.group_by("shard"):
        index = _tar_index(tmp_path / "release" / shard[0])
        assert index == {f: (o, n) for f, o, n in rows.select("face_id", "offset_bytes", "size_bytes").iter_rows()}


def test_report_and_card_count_unchanged_fake_faces_per_video(paired, tmp_path):
    faces = paired["faces"]
    copy_faces = faces.filter(pl.col("uri") == "copy.mp4").height
    counted = _curation(faces, paired["videos"], paired["out"] / "tracks.parquet")["unchanged_pair_by_video"]
    assert counted["copy.mp4"] == copy_faces and "hue.mp4" not in counted and "orig.mp4" not in counted
    assert f"copy.mp4 {copy_faces}" in "\n".join(_curation_lines(_curation(faces, paired["videos"], paired["out"] / "tracks.parquet")))
    build_report(ReportRequest(dataset=paired["out"], out=tmp_path / "report", reports_dir=tmp_path / "none", video_pages=0))
    listed = (tmp_path / "report" / "videos.html").read_text()
    assert "unchanged fake faces" in listed
    row = next(line for line in listed.split("<tr>") if "copy.mp4" in line)
    assert f'<td class="n">0</td><td class="n">{copy_faces}</td><td>aligned</td>' in row  # kept 0, unchanged: all


def test_dfdc_metadata_names_the_original_and_a_broken_original_leaves_its_fakes_on_their_own(paired, tmp_path):
    corpus = tmp_path / "dfdc"
    corpus.mkdir()
    source = paired["out"].parent / "corpus"
    for name in ("orig.mp4", "hue.mp4"):
        (corpus / name).write_bytes((source / name).read_bytes())
    (corpus / "broken.mp4").write_bytes(b"not a video")
    (corpus / "of_broken.mp4").write_bytes((source / "copy.mp4").read_bytes())
    meta = {"orig.mp4": {"label": "REAL"}, "hue.mp4": {"label": "FAKE", "original": "orig.mp4"},
            "broken.mp4": {"label": "REAL"}, "of_broken.mp4": {"label": "FAKE", "original": "broken.mp4"}}  # fmt: skip
    (corpus / "metadata.json").write_text(json.dumps(meta))
    options = extract_options(corpus, tmp_path / "out", sample="fps:2")
    run_extract(options, CurateOptions(embedder="none"))
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet")
    modes = {r["uri"]: (r["pair_mode"], r["pair_reason"]) for r in videos.iter_rows(named=True)}
    assert modes["hue.mp4"] == ("aligned", None)
    assert modes["of_broken.mp4"] == ("own_detection", "its original failed")
    assert modes["orig.mp4"] == (None, None) and videos.filter(pl.col("uri") == "broken.mp4")["status"][0] == "failed"


def test_erasing_an_original_erases_the_masks_made_from_its_faces(paired, tmp_path):
    """A difference mask is made from both crops of its pair: forgetting the original video deletes
    every mask of its pairs (files, stored mask rows, pairs), logs their hashes with the crops, and
    leaves nothing the audit finds; gc then finds no orphan mask."""
    import shutil

    from pipeline.config import Options
    from pipeline.corpus.erasures import read_erasures
    from pipeline.privacy.audit import audit
    from pipeline.privacy.forget import forget
    from pipeline.privacy.gc import find_orphans
    from pipeline.privacy.select import Target

    out = tmp_path / "out"
    shutil.copytree(paired["out"], out)
    base = Options()
    options = replace(
        base,
        extract=replace(paired["options"], out=str(out)),
        curate=replace(base.curate, embedder="none"),
        policy=replace(base.policy, erasures=str(tmp_path / "erasures.parquet")),
    )
    masks = paired["pairs"].filter(pl.col("mask_path").is_not_null())["mask_path"].to_list()
    assert masks and all((out / m).is_file() for m in masks)
    original = _video(paired, "orig.mp4")["video_id"]
    forget(options, Target("video", original), "a request")
    assert not any((out / m).exists() for m in masks)
    logged = set(read_erasures(tmp_path / "erasures.parquet").crops)
    assert {Path(m).stem for m in masks} <= logged
    assert pl.read_parquet(out / "pairs.parquet").filter(pl.col("original_video_id") == original).height == 0
    checked, findings = audit(options)
    assert checked == 1 and findings == [], findings
    assert find_orphans(options).masks == ()
    assert pl.read_parquet(out / "faces.parquet").filter(pl.col("uri") == "hue.mp4").height > 0  # the fakes stay
