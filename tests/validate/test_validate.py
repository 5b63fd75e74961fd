"""The data contracts, run for real: GX validation of a real extraction, broken on purpose.

Each corruption must fail exactly the checks it names (every suite runs, so a
check that also fired elsewhere would show). The fixture dataset (``extracted``)
is shared and read-only: corruptions work on a copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flows.cli import main as facecorpus
from pipeline.validate.docs import validation_pages
from pipeline.validate.suites import SUITES, ContractViolation, ValidationReport, build_suite, validate_dataset
from schemas.contracts.base import schema_checks
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_SCHEMA

REPO = Path(__file__).resolve().parents[2]
GX_DIR = REPO / "schemas" / "gx"
CHROMIUM = Path("/usr/bin/chromium")
SUITE_NAMES = [spec.contract.NAME for spec in SUITES]


def copy_dataset(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("videos.parquet", "faces.parquet", "tracks.parquet"):
        shutil.copy2(src / name, dst / name)
    shutil.copytree(src / "crops", dst / "crops")
    return dst


def edit_table(dataset: Path, manifest: str, change: Callable[[pa.Table], pa.Table]) -> None:
    table = pq.read_table(dataset / manifest)
    pq.write_table(change(table), dataset / manifest)


def edit_rows(dataset: Path, manifest: str, change: Callable[[list[dict]], None]) -> None:
    """Edit the rows as dicts; written back with the file's own types (nulls allowed,
    as a buggy writer would)."""

    def rewrite(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        change(rows)
        relaxed = pa.schema([f.with_nullable(True) for f in table.schema], metadata=table.schema.metadata)
        return pa.Table.from_pylist(rows, schema=relaxed)

    edit_table(dataset, manifest, rewrite)


def validate(dataset: Path, limits: ContractLimits | None = None, **options) -> ValidationReport:
    return validate_dataset(dataset, limits, reports_dir=dataset.parent / "reports", gx_dir=GX_DIR, build_docs=False, **options)


@pytest.fixture(scope="module")
def clean_run(extracted, tmp_path_factory) -> ValidationReport:
    """The untouched fixture extraction, validated with Data Docs built."""
    dataset, _summary = extracted
    return validate_dataset(dataset, reports_dir=tmp_path_factory.mktemp("reports"), gx_dir=GX_DIR)


@pytest.fixture
def dataset(extracted, tmp_path) -> Path:
    return copy_dataset(extracted[0], tmp_path / "dataset")


def test_a_clean_extraction_passes_every_suite(clean_run):
    assert clean_run.failed_checks() == set(), clean_run.summary()
    assert clean_run.passed and not clean_run.warnings
    assert [s.suite for s in clean_run.suites] == SUITE_NAMES
    rows = {s.suite: s.rows for s in clean_run.suites}
    assert rows["videos"] == 5 and rows["faces"] > 20 and rows["crops"] > 20 and rows["run"] == 1
    expected = {c.name for spec in SUITES for c in spec.contract.checks(ContractLimits())}
    assert {o.check for o in clean_run.outcomes} == expected
    assert clean_run.report_json.is_file()


# Each corruption: what it does to a copy of the dataset, and the checks it must fail (exactly).
def _first_face(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(dataset: Path) -> None:
        edit_rows(dataset, "faces.parquet", lambda rows: change(rows[0]))

    return apply


def _set(key: str, value) -> Callable[[dict], None]:
    def change(row: dict) -> None:
        row[key] = value

    return change


def _box_edge(index: int, value: Callable[[dict], float]) -> Callable[[dict], None]:
    def change(row: dict) -> None:
        row["bbox_xyxy_px"][index] = value(row)

    return change


def _landmark_far_right(row: dict) -> None:
    x1, _, x2, _ = row["bbox_xyxy_px"]
    row["landmarks5_px"][0] = x2 + 2 * (x2 - x1)


def _duplicate_face_id(dataset: Path) -> None:
    def change(rows: list[dict]) -> None:
        rows[-1]["face_id"] = rows[0]["face_id"]

    edit_rows(dataset, "faces.parquet", change)


def _swap_crop_paths(dataset: Path) -> None:
    def change(rows: list[dict]) -> None:
        rows[0]["crop_path"], rows[1]["crop_path"] = rows[1]["crop_path"], rows[0]["crop_path"]

    edit_rows(dataset, "faces.parquet", change)


def _first_crop(dataset: Path) -> Path:
    return dataset / pq.read_table(dataset / "faces.parquet")["crop_path"][0].as_py()


def _delete_crop(dataset: Path) -> None:
    _first_crop(dataset).unlink()


def _replace_crop_pixels(dataset: Path) -> None:
    """A valid PNG of the right size whose bytes differ from the manifest's hash."""
    path = _first_crop(dataset)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    image[0, 0] = 255 - image[0, 0]
    assert cv2.imwrite(str(path), image)


def _duplicate_video_row(dataset: Path) -> None:
    edit_rows(dataset, "videos.parquet", lambda rows: rows.append(dict(rows[0])))


def _first_video(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(dataset: Path) -> None:
        edit_rows(dataset, "videos.parquet", lambda rows: change(rows[0]))

    return apply


def _add_failed_videos(count: int) -> Callable[[Path], None]:
    """Failed inputs as the pipeline records them: nullable fields null, the rest like an ok row's."""

    def apply(dataset: Path) -> None:
        schema = pq.read_schema(dataset / "videos.parquet")

        def change(rows: list[dict]) -> None:
            for n in range(count):
                row = {f.name: (None if f.nullable else rows[0][f.name]) for f in schema}
                row.update(video_id=f"uri-{n:059x}", uri=f"broken_{n}.mp4", status="failed", error=f"broken_{n}.mp4: not a video")
                row.update(duplicate_uris=[], frames_sampled=0, faces_found=0)
                rows.append(row)

        edit_rows(dataset, "videos.parquet", change)

    return apply


def _face_where(status: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Change the first face with this status."""

    def apply(dataset: Path) -> None:
        edit_rows(dataset, "faces.parquet", lambda rows: change(next(r for r in rows if r["status"] == status)))

    return apply


def _duplicate_of_a_filtered_face(dataset: Path) -> None:
    def change(rows: list[dict]) -> None:
        filtered = next(r for r in rows if r["status"] == "filtered")
        kept = next(r for r in rows if r["status"] == "ok")
        kept.update(status="duplicate", duplicate_of=filtered["face_id"])

    edit_rows(dataset, "faces.parquet", change)


def _first_track(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(dataset: Path) -> None:
        edit_rows(dataset, "tracks.parquet", lambda rows: change(rows[0]))

    return apply


def _drop_first_track(dataset: Path) -> None:
    edit_rows(dataset, "tracks.parquet", lambda rows: rows.pop(0))


def _faces_table(change: Callable[[pa.Table], pa.Table]) -> Callable[[Path], None]:
    return lambda dataset: edit_table(dataset, "faces.parquet", change)


def _cast(manifest: str, column: str, to: pa.DataType) -> Callable[[Path], None]:
    def apply(dataset: Path) -> None:
        edit_table(dataset, manifest, lambda t: t.set_column(t.column_names.index(column), column, t[column].cast(to)))

    return apply


CORRUPTIONS = {
    "extra column": (_faces_table(lambda t: t.append_column("colour", pa.array(["red"] * t.num_rows))), {"faces.columns"}),
    "column dropped": (_faces_table(lambda t: t.drop_columns(["source"])), {"faces.columns", "faces.type.source"}),
    "wrong type": (_cast("faces.parquet", "frame_index", pa.int64()), {"faces.type.frame_index"}),
    "null key": (_first_face(_set("det_score", None)), {"faces.not_null.det_score"}),
    "NaN score": (_first_face(_set("det_score", float("nan"))), {"faces.finite.det_score"}),
    "score above 1": (_first_face(_set("det_score", 1.5)), {"faces.det_score_in_unit_range"}),
    # The renamed last face (a still's: alone in its track) was its track's best face.
    "duplicate face_id": (_duplicate_face_id, {"faces.face_id_unique", "tracks.best_face_in_track"}),
    "face of an unknown video": (
        _first_face(_set("video_id", "f" * 64)),
        {"faces.video_id_in_videos", "videos.faces_found_matches_faces", "faces.track_in_tracks"},
    ),
    "box past the frame's right edge": (_first_face(_box_edge(2, lambda r: r["frame_width_px"] + 40.0)), {"faces.bbox_inside_frame"}),
    "box of zero width": (_first_face(_box_edge(2, lambda r: r["bbox_xyxy_px"][0])), {"faces.bbox_non_degenerate"}),
    "landmark far outside the box": (_first_face(_landmark_far_right), {"faces.landmarks_near_box"}),
    "NaN in the affine": (_first_face(lambda r: r["affine_2x3"].__setitem__(2, float("nan"))), {"faces.finite.affine_2x3"}),
    "degenerate affine": (_first_face(_set("affine_2x3", [0.0] * 6)), {"faces.affine_non_degenerate"}),
    "crop size not the preset's": (_first_face(_set("crop_size_px", 113)), {"faces.crop_size_matches_preset", "crops.image_size_matches"}),
    "crop file missing": (_delete_crop, {"crops.file_exists"}),
    "crop file changed": (_replace_crop_pixels, {"crops.file_sha256_matches"}),
    "crop paths swapped": (_swap_crop_paths, {"crops.path_names_sha256", "crops.file_sha256_matches"}),
    "duplicate video row": (_duplicate_video_row, {"videos.video_id_unique", "videos.uri_unique"}),
    "unknown status": (_first_video(_set("status", "weird")), {"videos.status_known", "faces.video_is_ok", "tracks.video_id_in_videos"}),
    "ok video with an error": (_first_video(_set("error", "oops")), {"videos.ok_has_no_error"}),
    "unknown pair mode": (_first_video(_set("pair_mode", "guessed")), {"videos.pair_mode_known"}),
    "implausible timeline": (_first_video(_set("duration_s", 95356.0)), {"videos.timeline_plausible"}),
    "too many failed videos": (_add_failed_videos(2), {"run.failure_ratio"}),
    # Curation: statuses and reasons, duplicates, tracks, score ranges, near-duplicate videos.
    "unknown face status": (_first_face(_set("status", "maybe")), {"faces.status_known", "tracks.faces_kept_match"}),
    "filtered without a reason": (
        _face_where("filtered", lambda r: r.update(filter_reason=None, filter_reasons=[])),
        {"faces.filtered_iff_reasons"},
    ),
    "reason not the first failed": (_face_where("filtered", _set("filter_reason", "at_border")), {"faces.filter_reason_is_first"}),
    "unknown reason": (
        _face_where("filtered", lambda r: r.update(filter_reason="sleepy", filter_reasons=["sleepy"])),
        {"faces.filter_reasons_known"},
    ),
    "reason on a kept face": (
        _face_where("ok", lambda r: r.update(filter_reason="blurry", filter_reasons=["blurry"])),
        {"faces.filtered_iff_reasons"},
    ),
    "duplicate of a filtered face": (_duplicate_of_a_filtered_face, {"faces.duplicate_of_kept_face", "tracks.faces_kept_match"}),
    "kept face naming a duplicate_of": (_face_where("ok", lambda r: r.update(duplicate_of=r["face_id"])), {"faces.duplicate_of_kept_face"}),
    "face of no track": (_drop_first_track, {"faces.track_in_tracks"}),
    "negative sharpness": (_first_face(_set("sharpness", -1.0)), {"faces.sharpness_in_range"}),
    "yaw past 180": (_first_face(_set("yaw_deg", 400.0)), {"faces.yaw_deg_in_range"}),
    "quality above 1": (_first_face(_set("quality_score", 1.5)), {"faces.quality_score_in_range"}),
    "bad crop hash": (_first_face(_set("crop_phash", "xyz")), {"faces.crop_phash_format"}),
    "video a near-duplicate of itself": (
        _first_video(lambda r: r.update(near_duplicate_of=r["video_id"])),
        {"videos.near_duplicate_of_known"},
    ),
    "track span reversed": (_first_track(lambda r: r.update(first_pts_s=r["last_pts_s"] + 1.0)), {"tracks.span_ordered"}),
    "track face count wrong": (_first_track(lambda r: r.update(faces=r["faces"] + 1)), {"tracks.faces_match"}),
    "best face of another track": (_first_track(_set("best_face_id", "0" * 32)), {"tracks.best_face_in_track"}),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_fails_exactly_its_checks(dataset, name):
    corrupt, expected = CORRUPTIONS[name]
    corrupt(dataset)
    report = validate(dataset)
    assert report.failed_checks() == expected, report.summary()
    assert not report.passed
    assert {o.check for o in report.errors} == expected
    with pytest.raises(ContractViolation, match=sorted(expected)[0]):
        report.raise_for_errors()


def test_a_dataset_without_faces_is_valid(dataset):
    def no_faces(rows: list[dict]) -> None:
        for row in rows:
            row["faces_found"] = 0

    _faces_table(lambda t: t.slice(0, 0))(dataset)
    edit_table(dataset, "tracks.parquet", lambda t: t.slice(0, 0))
    edit_rows(dataset, "videos.parquet", no_faces)
    report = validate(dataset)
    assert report.failed_checks() == set(), report.summary()
    assert {s.suite: s.rows for s in report.suites} == {
        "videos": 5,
        "faces": 0,
        "crops": 0,
        "tracks": 0,
        "groups": 0,
        "originals": 0,
        "run": 1,
    }


def test_schema_checks_follow_the_arrow_schema():
    grown = FACES_SCHEMA.append(pa.field("blur_score", pa.float32(), nullable=False))
    names = {c.name for c in schema_checks("faces", grown, ())}
    assert {"faces.type.blur_score", "faces.not_null.blur_score", "faces.finite.blur_score"} <= names
    assert {f"faces.type.{name}" for name in FACES_SCHEMA.names} <= names
    columns = next(c for c in schema_checks("faces", grown, ("chk_x",)) if c.name == "faces.columns")
    assert columns.expectation.column_list == [*FACES_SCHEMA.names, "blur_score", "chk_x"]


def test_warnings_are_reported_and_do_not_block(dataset):
    report = validate(dataset, ContractLimits(max_faces_per_frame=2, tiny_face_px=1000.0))
    assert {o.check for o in report.warnings} == {"run.faces_per_frame", "run.tiny_face_share"}
    assert report.errors == () and report.passed
    assert "WARNING run.faces_per_frame" in report.summary()


def test_partitioning_does_not_change_the_outcome(dataset):
    # The same corruption as "duplicate face_id" above (one partition), now in several.
    _duplicate_face_id(dataset)
    report = validate(dataset, partition_rows=12)
    assert {s.suite: s.partitions for s in report.suites}["faces"] >= 3
    assert report.failed_checks() == {"faces.face_id_unique", "tracks.best_face_in_track"}, report.summary()
    # Both copies of the key land in one partition, so the count is exact.
    assert report.errors[0].detail.startswith("2 of ")


# Corruptions hypothesis combines: each takes its own face row, so their effects never overlap.
def _score(row: dict, draw) -> set[str]:
    # det_score is a float32 column: draw float32 values, so the stored score is the one drawn
    # (a float64 such as -2.4e-195 would be stored as -0.0, a valid score).
    out_of_range = st.one_of(st.floats(1.0, 1e6, exclude_min=True, width=32), st.floats(-1e6, 0.0, exclude_max=True, width=32))
    row["det_score"] = draw(out_of_range)
    return {"faces.det_score_in_unit_range"}


def _box_out(row: dict, draw) -> set[str]:
    edge = draw(st.integers(0, 3))
    past = draw(st.floats(0.5, 500.0))
    limit = (0.0, 0.0, float(row["frame_width_px"]), float(row["frame_height_px"]))[edge]
    row["bbox_xyxy_px"][edge] = limit - past if edge < 2 else limit + past
    return {"faces.bbox_inside_frame"}


def _landmark_out(row: dict, draw) -> set[str]:
    point, axis = draw(st.integers(0, 4)), draw(st.integers(0, 1))
    x1, y1, x2, y2 = row["bbox_xyxy_px"]
    side = (x2 - x1, y2 - y1)[axis]
    beyond = draw(st.floats(0.3, 5.0))  # box sides past the edge; the margin is 0.25
    high = (x2, y2)[axis]
    row["landmarks5_px"][2 * point + axis] = high + beyond * side
    return {"faces.landmarks_near_box"}


def _non_finite(row: dict, draw) -> set[str]:
    column, width = draw(st.sampled_from([("bbox_xyxy_px", 4), ("landmarks5_px", 10), ("affine_2x3", 6)]))
    row[column][draw(st.integers(0, width - 1))] = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
    return {f"faces.finite.{column}"}


def _crop_size(row: dict, draw) -> set[str]:
    row["crop_size_px"] = draw(st.integers(1, 4096).filter(lambda size: size != row["crop_size_px"]))
    return {"faces.crop_size_matches_preset", "crops.image_size_matches"}


ROW_CORRUPTIONS = {"score": _score, "box": _box_out, "landmark": _landmark_out, "non-finite": _non_finite, "crop size": _crop_size}


# No example database (CI starts clean, nothing is written into the repository) and no
# shrinking (each example is a full validation, ~1.5 s): a failure shows its draws as found.
@settings(
    max_examples=5,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), kinds=st.sets(st.sampled_from(sorted(ROW_CORRUPTIONS)), min_size=1, max_size=4))
def test_generated_corruptions_fail_exactly_their_checks(extracted, tmp_path, data, kinds):
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:  # one per example, under the test's own temp dir
        dataset = copy_dataset(extracted[0], Path(tmp) / "dataset")
        rows_count = pq.read_metadata(dataset / "faces.parquet").num_rows
        targets = data.draw(st.permutations(range(rows_count)))[: len(kinds)]
        expected: set[str] = set()

        def change(rows: list[dict]) -> None:
            for kind, index in zip(sorted(kinds), targets, strict=True):
                expected.update(ROW_CORRUPTIONS[kind](rows[index], data.draw))

        edit_rows(dataset, "faces.parquet", change)
        report = validate(dataset)
        assert report.failed_checks() == expected, report.summary()


def test_check_names_are_unique_and_suites_build():
    for spec in SUITES:
        suite = build_suite(spec.contract, ContractLimits())
        assert suite.name == spec.contract.NAME and len(suite.expectations) > 3


def test_a_reports_folder_it_did_not_make_is_never_replaced(dataset):
    foreign = dataset.parent / "reports" / "datadocs"
    foreign.mkdir(parents=True)
    (foreign / "notes.html").write_text("mine")
    with pytest.raises(ValueError, match="refusing to replace"):
        validate(dataset)
    assert (foreign / "notes.html").read_text() == "mine"


def test_a_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no videos.parquet"):
        validate(tmp_path)


def test_cli_reads_its_params_section_and_exits_non_zero_on_errors(dataset, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(f"validate:\n  dataset: {dataset}\n  reports_dir: {tmp_path / 'reports'}\n  max_faces_per_frame: 2\n  docs: false\n")
    assert facecorpus(["validate", "--params", str(params), "--gx-dir", str(GX_DIR)]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "WARNING run.faces_per_frame" in out
    assert (tmp_path / "reports" / "validation.json").is_file()
    assert f"validation, in plain words with example rows and paths: {tmp_path / 'reports' / 'validation.html'}" in out

    _first_face(_set("det_score", 2.0))(dataset)
    assert facecorpus(["validate", "--params", str(params), "--gx-dir", str(GX_DIR)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "ERROR faces.det_score_in_unit_range: det_score in [0, 1]" in out

    params.write_text("validate:\n  colour: red\n")
    assert facecorpus(["validate", "--params", str(params)]) == 2
    assert "validate: unknown key 'colour'" in capsys.readouterr().err


def test_cli_help_shows_every_default():
    result = subprocess.run([sys.executable, "-m", "flows.cli", "validate", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in (
        "--reports-dir",
        "--gx-dir",
        "--max-failure-ratio",
        "--max-faces-per-frame",
        "--tiny-face-px",
        "--landmark-margin",
        "--partition-rows",
    ):
        assert "(default:" in text.split(option, 2)[-1].split(" --", 1)[0], option
    assert "DATASET dataset folder (videos.parquet, faces.parquet, crops/) (required:" in text


def _chromium() -> Path:
    """The system Chromium; tests never install it (the CI entry point .ci/run does): skip outside CI, fail under CI."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: the CI entry point (.ci/run) installs Debian's chromium"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    return CHROMIUM


def _screenshots(pages: dict[str, Path], folder: Path) -> dict[str, Path]:
    """One headless Chromium per page, all at once; each with a fresh profile."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", "--window-size=1280,2000"]
    shots, running = {}, []
    for name, page in pages.items():
        shots[name] = folder / f"datadocs-{name}.png"
        profile = folder / f"chromium-profile-{name}"
        profile.mkdir()
        command = [str(_chromium()), *flags, f"--user-data-dir={profile}", f"--screenshot={shots[name]}", page.as_uri()]
        running.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for process in running:
        assert process.wait(timeout=120) == 0
    return shots


def test_data_docs_site_shows_each_suite_in_chromium(clean_run, tmp_path):
    index = clean_run.data_docs
    assert index is not None and index.is_file()
    html = index.read_text(encoding="utf-8")
    pages = validation_pages(index)
    assert sorted(pages) == sorted(SUITE_NAMES)
    for suite in SUITE_NAMES:
        assert f"validations/{suite}/" in html, f"the index does not link {suite}'s results"
        text = " ".join(re.sub(r"<[^>]+>", " ", pages[suite].read_text(encoding="utf-8")).split())
        assert "Status: Succeeded" in text and f"{suite}." in text, suite
    # The index's table is drawn by scripts from a CDN; each suite's results page is plain HTML.
    for suite, png in _screenshots(pages, tmp_path).items():
        image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        assert image is not None and image.shape == (2000, 1280), suite
        # Not blank: dark (text) pixels on a fair share of the rows.
        assert (image < 128).any(axis=1).mean() > 0.1, f"the {suite} page looks blank in {png}"


def test_an_unchanged_dataset_reuses_its_report_and_any_change_validates_again(dataset):
    first = validate(dataset, reuse=True)
    assert first.passed and not first.reused
    again = validate(dataset, reuse=True)
    assert again.reused and again.passed and "reused" in again.summary()
    assert again.outcomes == first.outcomes and again.suites == first.suites
    stored = json.loads(again.report_json.read_text())
    again.report_json.write_text(json.dumps({**stored, "suite_summaries": "not a list"}))
    assert not validate(dataset, reuse=True).reused  # a report of another shape: validated again
    assert not validate(dataset).reused  # without reuse it always validates
    assert not validate(dataset, ContractLimits(max_faces_per_frame=2), reuse=True).reused  # other limits
    _delete_crop(dataset)
    after = validate(dataset, reuse=True)
    assert not after.reused and after.failed_checks() == {"crops.file_exists"}, after.summary()
    assert validate(dataset, reuse=True).reused  # the failing report is reused too while nothing changes
    (dataset / "crops" / "dangling.png").symlink_to(dataset / "nowhere.png")  # an entry the key must survive
    assert not validate(dataset, reuse=True).reused
