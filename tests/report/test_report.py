"""The dataset report (``facecorpus report``) of the fixture corpus: every section, the caps, the
frames drawn from the source at the right time, validation in plain words with the offending
crop's path, and the pages rendered in a real headless Chromium (screenshots kept as artifacts)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli.main import main as cli_main
from pipeline.media.probe import probe
from pipeline.media.sampling import iter_frames
from pipeline.media.spec import SampleSpec
from pipeline.report.build import ReportRequest, build_report, write_validation_page
from pipeline.report.caps import STRIP_PX, THUMB_PX
from pipeline.validate.suites import validate_dataset
from schemas.manifests import FACES_MANIFEST
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FACECORPUS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "report"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(extracted, tmp_path_factory) -> Path:
    """A copy of the shared extraction (tests here change files), validated for real (GX)."""
    copy = tmp_path_factory.mktemp("report") / "dataset"
    shutil.copytree(extracted[0], copy)
    validate_dataset(copy, reports_dir=copy / "reports", build_docs=False)
    return copy


@pytest.fixture(scope="module")
def report(dataset, fixture_corpus) -> Path:
    result = build_report(ReportRequest(dataset=dataset, out=dataset / "report", reports_dir=dataset / "reports", corpus=fixture_corpus))
    assert (
        result.index.is_file()
        and result.video_pages == pl.read_parquet(dataset / "videos.parquet").filter(pl.col("faces_found") > 0).height
    )
    return result.index.parent


def text_of(page: Path) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")).split())


def test_index_holds_the_summary_the_funnel_with_every_drop_reason_and_the_plots(dataset, report):
    faces = pl.read_parquet(dataset / FACES_MANIFEST)
    text = text_of(report / "index.html")
    assert f"faces detected {faces.height}" in text
    assert f"faces kept {faces.filter(pl.col('status') == 'ok').height}" in text
    dropped = faces.filter(pl.col("status") != "ok").with_columns(pl.coalesce("filter_reason", "status").alias("r"))
    assert dropped.height > 0, "the fixtures should drop some faces (duplicates, blurry)"
    for reason, count in dropped.group_by("r").len().iter_rows():
        assert f"dropped: {reason} {count}" in text
        sheet = cv2.imread(str(report / "sheets" / f"reason-{reason}.jpg"))
        assert sheet is not None and sheet.shape[0] == THUMB_PX * -(-min(count, 48) // 12)
    for plot in ("face_size_px", "det_score", "sharpness", "yaw_deg", "pitch_deg", "roll_deg", "faces_per_frame", "faces_per_video",
                 "by_license", "by_consent", "by_split", "by_label"):  # fmt: skip
        image = cv2.imread(str(report / "plots" / f"{plot}.png"))
        assert image is not None and image.std() > 10, plot
        assert f'src="plots/{plot}.png"' in (report / "index.html").read_text()
    html = "".join(p.read_text() for p in report.rglob("*.html"))
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_video_page_draws_the_source_frame_at_the_face_rows_time_with_boxes_and_tracks(dataset, report, fixture_corpus):
    faces = pl.read_parquet(dataset / FACES_MANIFEST).filter(pl.col("uri") == "hamilton.mp4")
    video_id = faces["video_id"][0]
    page = (report / "video" / f"{video_id}.html").read_text()
    frame_index = int(faces["frame_index"].sort()[0])
    drawn = cv2.imread(str(report / "frames" / f"{video_id}-{frame_index}.jpg"))
    assert drawn.shape[1] == STRIP_PX
    # Oracle: the pipeline's own decode of that sampled frame, scaled like the strip.
    path = fixture_corpus / "hamilton.mp4"
    frames = list(iter_frames(path, SampleSpec.parse(faces["sampling"][0]), probe(path)))
    expected = cv2.cvtColor(cv2.resize(frames[frame_index].image_rgb, drawn.shape[1::-1], interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    other = cv2.cvtColor(cv2.resize(frames[-1].image_rgb, drawn.shape[1::-1], interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    error = np.abs(drawn.astype(int) - expected).mean()
    assert error < 8 < np.abs(drawn.astype(int) - other).mean(), error
    in_frame = faces.filter(pl.col("frame_index") == frame_index).height
    assert page.count('alt="T') >= in_frame and "no frame" not in page and "not available" not in page
    for face_id in faces["face_id"]:
        assert f'id="f-{face_id}"' in page  # every face row is there, with its anchor
    tracks = faces["track_id"].n_unique()
    assert text_of(report / "video" / f"{video_id}.html").count(" faces ") >= 1 and f"Tracks ({min(tracks, 24)} shown)" in page


def test_without_the_corpus_boxes_are_drawn_on_blank_frames_and_the_page_says_why(dataset, tmp_path):
    result = build_report(ReportRequest(dataset=dataset, out=tmp_path / "r", reports_dir=dataset / "reports", video_pages=1, sheet_faces=5))
    pages = list((tmp_path / "r" / "video").glob("*.html"))
    assert len(pages) == result.video_pages == 1
    assert "source video not available" in pages[0].read_text()
    for sheet in (tmp_path / "r" / "sheets").glob("video-*.jpg"):
        assert cv2.imread(str(sheet)).shape[:2] == (THUMB_PX, 5 * THUMB_PX)  # the cap: 5 crops
    linked = set(re.findall(r'href="video/([0-9a-f]+)\.html', (tmp_path / "r" / "videos.html").read_text()))
    assert linked == {pages[0].stem}  # only the video that has a page is linked to one


def test_validation_page_says_what_failed_with_the_offending_crop_path(dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken, ignore=shutil.ignore_patterns("report"))
    crop_path = pl.read_parquet(broken / FACES_MANIFEST)["crop_path"][0]
    with open(broken / crop_path, "ab") as fh:
        fh.write(b"x")
    validate_dataset(broken, reports_dir=broken / "reports", build_docs=False, only=["crops"])
    build_report(ReportRequest(dataset=broken, out=broken / "report", reports_dir=broken / "reports", video_pages=0))
    text = text_of(broken / "report" / "validation.html")
    assert "FAILED" in text and "ERROR crops.file_sha256_matches" in text
    assert "1 of " in text and crop_path in text
    face_id = pl.read_parquet(broken / FACES_MANIFEST).filter(pl.col("crop_path") == crop_path)["face_id"][0]
    assert face_id in text  # joined back to its face row
    assert "FAILED" in text_of(broken / "report" / "index.html")
    # What `facecorpus validate` writes and prints instead of the Data Docs index (which needs a CDN).
    page = write_validation_page(broken, broken / "reports")
    assert page == broken / "reports" / "validation.html" and crop_path in text_of(page) and "index.html" not in page.read_text()


def test_identities_get_sheets_and_bad_crop_paths_are_never_read(dataset, tmp_path):
    copy = tmp_path / "ids"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns("report", "manifests.json"))  # hand-edited below
    table = pq.read_table(copy / FACES_MANIFEST)
    identities = [f"person-{i % 3}" for i in range(table.num_rows)]
    table = table.set_column(table.schema.get_field_index("identity_id"), "identity_id", pa.array(identities))  # given by hand
    outside = tmp_path / "secret.png"
    shutil.copy(next((copy / "crops").rglob("*.png")), outside)
    paths = table["crop_path"].to_pylist()
    paths[0], paths[1] = "../secret.png", "crops/zz/missing.png"
    table = table.set_column(table.schema.get_field_index("crop_path"), "crop_path", pa.array(paths))
    pq.write_table(table, copy / FACES_MANIFEST)
    build_report(ReportRequest(dataset=copy, out=copy / "report", reports_dir=copy / "reports", video_pages=0))
    text = text_of(copy / "report" / "index.html")
    for i in range(3):
        assert f"identity person-{i}:" in text
    assert "crop missing or unreadable: ../secret.png" in (copy / "report" / "index.html").read_text()
    assert "crop missing or unreadable: crops/zz/missing.png" in (copy / "report" / "index.html").read_text()


def test_cli_prints_the_path_and_a_rerun_replaces_the_report_whole(dataset, tmp_path, capsys):
    out = tmp_path / "cli-report"
    for _ in range(2):
        assert cli_main(["report", str(dataset), "--out", str(out), "--video-pages", "1"]) == 0
        assert f"report: {out / 'index.html'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli-report"]  # no temp or old folder left
    assert cli_main(["report", str(tmp_path / "nowhere")]) == 2
    assert "videos.parquet does not exist" in capsys.readouterr().err


def _chromium_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"playwright is not installed ({exc})"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: the CI entry point (.ci/run) installs Debian's chromium"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    return sync_playwright


def test_report_renders_in_headless_chromium_with_every_image_loaded(dataset, report):
    sync_playwright = _chromium_or_skip()
    video_id = pl.read_parquet(dataset / FACES_MANIFEST).filter(pl.col("uri") == "hamilton.mp4")["video_id"][0]
    pages = {"index": report / "index.html", "video": report / "video" / f"{video_id}.html", "validation": report / "validation.html"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name, path in pages.items():
                _check_page(browser, name, path)
        finally:
            browser.close()


def _check_page(browser, name: str, path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors, failed, requested = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("request", lambda r: requested.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not errors and not failed, (name, errors, failed)
    assert all(url.startswith("file://") for url in requested), [u for u in requested if not u.startswith("file://")]
    assert all(done and width > 0 for _, done, width in images), [src for src, done, width in images if not (done and width)]
    if name == "index":
        assert any("plots/" in src for src, *_ in images) and any("sheets/" in src for src, *_ in images)
    if name == "video":
        assert any("frames/" in src for src, *_ in images) and any("sheets/track-" in src for src, *_ in images)
    image = cv2.imread(str(shot))
    assert image is not None and image.std() > 20, f"{shot} looks blank"
