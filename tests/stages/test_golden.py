"""Golden outputs: each stage's output on the fixtures, summarised, recorded with its version.

A stage's stored work is reused whenever its fingerprint (name, version,
parameters, model, inputs) matches, so a change in what a stage outputs must come
with a version bump. This test runs every stage on the fixture corpus and compares
a summary of its output (row count, a digest of its exact columns, sum/min/max
of each float column) with ``golden.json``: a changed output under the same
version fails with a message saying to bump the version. After a bump, record the
new output with ``FACECORPUS_UPDATE_GOLDEN=1 pytest tests/stages/test_golden.py``
(refused while the version is unchanged).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipeline.corpus.load import load_corpus
from pipeline.corpus.snapshot import snapshot
from pipeline.curate.dataset import video_signatures
from pipeline.curate.duplicates import DuplicateStage
from pipeline.curate.embed import EmbedStage
from pipeline.curate.filters import FilterStage
from pipeline.curate.quality import QualityStage
from pipeline.curate.select import SelectStage
from pipeline.curate.tracks import TrackStage
from pipeline.curate.videos import NearDuplicateVideos
from pipeline.records import to_table
from pipeline.stages.align import AlignStage
from pipeline.stages.detect import DetectStage
from pipeline.stages.frames import FrameSignatureStage
from pipeline.stages.probe import ProbeStage
from pipeline.stages.video import VideoPass
from pipeline.stages.workdir import CURATION_DIR, WORK_DIR
from schemas.manifests import FACES_MANIFEST, PROBE_SCHEMA, VIDEOS_MANIFEST

GOLDEN = Path(__file__).with_name("golden.json")
UPDATE_ENV = "FACECORPUS_UPDATE_GOLDEN"
STAGES = {
    "probe": ProbeStage,
    "detect": DetectStage,
    "frames": FrameSignatureStage,
    "align": AlignStage,
    "video": VideoPass,
    "quality": QualityStage,
    "tracks": TrackStage,
    "embed": EmbedStage,
    "filter": FilterStage,
    "duplicates": DuplicateStage,
    "near_duplicate_videos": NearDuplicateVideos,
    "select": SelectStage,
}
# The crop file's name and hash: the bytes of an encoded PNG change with the OpenCV (libpng,
# zlib) version while its pixels do not (5.0.0 and 5.1.0 differ), so outputs leave them out.
ENCODED = ("crop_path", "crop_sha256")
# A perceptual hash is a function of the crop's pixels: a warp that differs in the last bit can flip
# one of its 64 bits, so it is left out like the crop's bytes; the pixel scores (sharpness, brightness,
# contrast), compared within the tolerance below, stand for the pixels.
PERCEPTUAL = ("crop_phash",)
# Floats are compared by summary (sum, min, max per column) within a relative tolerance, never by a
# digest of rounded values: rounding to 3 decimals flips a digest whenever one of a few thousand
# values sits near a rounding edge. Seen: the same commit and packages gave another detect digest
# on another machine (onnxruntime's kernels follow the CPU's instruction set), while every exact
# column, count and the video table were unchanged. A real change of output (another threshold, margin,
# model or template) moves these sums by far more than 1e-4 of their scale.
RTOL = 1e-4


def float_values(frame: pl.DataFrame, column: str) -> pl.Series | None:
    """The column's values as floats (lists flattened); None for an exact column."""
    dtype = frame.schema[column]
    if dtype.is_float():
        return frame[column].cast(pl.Float64)
    if isinstance(dtype, (pl.List, pl.Array)) and dtype.inner.is_float():
        return frame[column].cast(pl.List(pl.Float64)).explode()
    return None


def summary(frame: pl.DataFrame) -> dict:
    """A table's output: its row count, a digest of its exact columns in the given order, and per float
    column [values, nulls, sum, min, max]."""
    floats, exact = {}, []
    for column in [c for c in frame.columns if c not in PERCEPTUAL]:
        values = float_values(frame, column)
        if values is None:
            exact.append(column)
            continue
        values = values.fill_nan(None)
        present = values.drop_nulls()
        floats[column] = [len(values), values.null_count(), float(present.sum()), present.min(), present.max()]
    rows = json.dumps(frame.select(exact).to_dicts(), sort_keys=True, default=str).encode()
    return {"rows": frame.height, "digest": hashlib.sha256(rows).hexdigest()[:32], "floats": floats}


def same_floats(recorded: list, found: list) -> bool:
    """Counts equal; sum, min and max within RTOL of the column's scale (its largest magnitude times its count for the sum)."""
    if recorded[:2] != found[:2] or (recorded[3] is None) != (found[3] is None):
        return False
    if recorded[3] is None:
        return True
    scale = max(1.0, abs(recorded[3]), abs(recorded[4]))
    sums_close = abs(recorded[2] - found[2]) <= RTOL * scale * max(1, recorded[0])
    return sums_close and all(abs(r - f) <= RTOL * scale for r, f in zip(recorded[3:], found[3:], strict=True))


def same_output(recorded: dict, found: dict) -> bool:
    """Two outputs (a summary, or a list of summaries for a stage with several tables) are the same output."""
    if isinstance(found, list):
        return isinstance(recorded, list) and len(recorded) == len(found) and all(map(same_output, recorded, found))
    if not isinstance(recorded, dict) or {k: recorded.get(k) for k in ("rows", "digest")} != {k: found[k] for k in ("rows", "digest")}:
        return False
    floats = recorded.get("floats", {})
    return floats.keys() == found["floats"].keys() and all(same_floats(floats[c], found["floats"][c]) for c in floats)


def work_tables(out: Path, stage: str, name: str, folder: str = WORK_DIR) -> pl.DataFrame:
    folders = sorted((out / folder).glob(f"*/{stage}-*"))
    return pl.concat([pl.read_parquet(f / name) for f in folders], how="vertical_relaxed")


def track_members(assignments: pl.DataFrame) -> pl.DataFrame:
    """Each track as its sorted face ids and shot (track ids hash fingerprints, which hash the model file)."""
    members = assignments.group_by("track_id").agg(pl.col("face_id").sort(), pl.col("shot_index").first())
    return members.drop("track_id").sort(pl.col("face_id").list.first())


def curation_outputs(out: Path) -> dict[str, str]:
    """The curation stages' outputs: stored per-video work, and the dataset stages run again on the manifests."""
    faces = pl.read_parquet(out / FACES_MANIFEST)
    videos = pl.read_parquet(out / VIDEOS_MANIFEST)
    frames = {p.parent.parent.name: pq.read_table(p) for p in (out / WORK_DIR).glob("*/frames-*/frames.parquet")}
    filtered = faces.drop("status").join(pl.from_arrow(FilterStage()(faces)).select("face_id", "status"), on="face_id")
    view = SelectStage()(faces.join(videos.select("video_id", "near_duplicate_of"), on="video_id"))
    return {
        "frames": summary(work_tables(out, "frames", "frames.parquet").sort("video_id", "frame_index")),
        "quality": summary(work_tables(out, "quality", "quality.parquet", CURATION_DIR).sort("face_id")),
        "tracks": summary(track_members(work_tables(out, "tracks", "tracks.parquet", CURATION_DIR))),
        "filter": summary(pl.from_arrow(FilterStage()(faces)).sort("face_id")),
        "duplicates": summary(pl.from_arrow(DuplicateStage()(filtered)).sort("face_id")),
        "near_duplicate_videos": summary(pl.from_arrow(NearDuplicateVideos()(video_signatures(videos, frames))).sort("video_id")),
        "embed": summary(work_tables(out, "embed", "embeddings.parquet", CURATION_DIR).sort("face_id")),
        # identity ids hash track ids (which hash the model file) and splits hash identities: left out like track_id
        "select": summary(pl.from_arrow(view).drop("track_id", "identity_id", "split_assigned", "original_face_id", *ENCODED)),
    }


def outputs(fixture_corpus: Path, out: Path) -> dict[str, str]:
    """Each stage's output summary, from the session's default extraction of the fixture corpus."""
    probe = to_table(list(ProbeStage().run(snapshot(load_corpus(fixture_corpus)))), PROBE_SCHEMA)
    detect = work_tables(out, "detect", "detections.parquet")
    detect_videos = pl.DataFrame([json.loads(p.read_text()) for p in sorted((out / "work").glob("*/detect-*/video.json"))]).drop(
        "detect_fingerprint"
    )
    videos = pl.read_parquet(out / VIDEOS_MANIFEST).drop("detect_fingerprint", "align_fingerprint")
    return {
        "probe": summary(pl.from_arrow(probe)),
        "detect": [summary(detect.sort("face_id")), summary(detect_videos.sort("video_id"))],
        "align": summary(work_tables(out, "align", "crops.parquet").sort("face_id").drop(*ENCODED)),
        "video": summary(videos),
        **curation_outputs(out),
    }


def check(golden: dict, versions: dict[str, int], found: dict[str, str]) -> list[str]:
    """What is wrong, in words: an output changed under the same version, or a version
    whose output is not recorded."""
    problems = []
    for stage, value in found.items():
        recorded = golden.get(stage)
        if recorded is None or recorded["version"] != versions[stage]:
            problems.append(f"{stage}: version {versions[stage]} has no recorded output: run {UPDATE_ENV}=1 pytest {Path(__file__).name}")
        elif not same_output(recorded.get("output"), value):
            problems.append(
                f"{stage}: the stage's output changed but its version is still {versions[stage]}: bump {STAGES[stage].__name__}.version "
                f"(stored work of the old version must not be reused), then record the new output with {UPDATE_ENV}=1"
            )
    return problems


def test_every_stage_output_matches_its_recorded_version(extracted, fixture_corpus):
    out, _ = extracted
    found = outputs(fixture_corpus, out)
    versions = {name: stage.version for name, stage in STAGES.items()}
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get(UPDATE_ENV):
        recorded = {s: golden[s] for s in found if s in golden and golden[s]["version"] == versions[s]}
        unchanged = [s for s in recorded if not same_output(recorded[s].get("output"), found[s])]
        assert not unchanged, f"refusing to record a new output under an unchanged version: {unchanged}; bump the version first"
        GOLDEN.write_text(json.dumps({s: {"version": versions[s], "output": found[s]} for s in found}, indent=1, sort_keys=True) + "\n")
    assert not check(golden if not os.environ.get(UPDATE_ENV) else json.loads(GOLDEN.read_text()), versions, found), "\n".join(
        check(golden, versions, found)
    )


def test_the_check_names_the_stage_and_says_what_to_do():
    table = pl.DataFrame({"face_id": ["a", "b"], "x_px": [10.0, 20.0]})
    golden = {"detect": {"version": 1, "output": summary(table)}}
    assert check(golden, {"detect": 1}, {"detect": summary(table)}) == []
    [changed] = check(golden, {"detect": 1}, {"detect": summary(table.with_columns(pl.col("x_px") + 1.0))})
    assert "detect: the stage's output changed but its version is still 1: bump DetectStage.version" in changed
    [unrecorded] = check(golden, {"detect": 2}, {"detect": summary(table)})
    assert "version 2 has no recorded output" in unrecorded


def test_float_noise_passes_and_a_real_change_of_any_kind_fails():
    table = pl.DataFrame(
        {
            "face_id": ["a", "b", "c"],
            "x_px": [10.0, 20.5, None],
            "pts": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            "crop_phash": ["00ff", "0f0f", "ffff"],
        }
    )
    recorded = summary(table)
    noise = (pl.col("x_px") * (1 + 1e-7), pl.col("pts").list.eval(pl.element() + 1e-6), pl.lit("0fff").alias("crop_phash"))
    noisy = table.with_columns(*noise)
    assert same_output(recorded, summary(noisy))
    changes = [
        table.with_columns(pl.col("x_px") + 0.5),
        table.with_columns(pl.col("pts").list.eval(pl.element() * 1.01)),
        table.with_columns(pl.Series("face_id", ["a", "b", "d"])),
        table.with_columns(pl.Series("x_px", [10.0, 20.5, 1.0])),
        table.head(2),
        table.with_columns(pl.lit(1).alias("new_column")),
    ]
    assert not any(same_output(recorded, summary(changed)) for changed in changes)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_declares_its_contract(name):
    stage = STAGES[name]
    assert stage.name == name and isinstance(stage.version, int) and stage.version >= 1
    assert stage.columns is not None and stage.inputs
