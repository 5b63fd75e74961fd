"""Golden outputs: each stage's output on the fixtures, as a digest, recorded with its version.

A stage's stored work is reused whenever its fingerprint (name, version,
parameters, model, inputs) matches, so a change in what a stage outputs must come
with a version bump. This test runs every stage on the fixture corpus and compares
a digest of its output with ``golden.json``: a changed output under the same
version fails with a message saying to bump the version. After a bump, record the
new digest with ``FACECORPUS_UPDATE_GOLDEN=1 pytest tests/stages/test_golden.py``
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
    "filter": FilterStage,
    "duplicates": DuplicateStage,
    "near_duplicate_videos": NearDuplicateVideos,
    "select": SelectStage,
}
# The crop file's name and hash: the bytes of an encoded PNG change with the OpenCV (libpng,
# zlib) version while its pixels do not (5.0.0 and 5.1.0 differ), so digests leave them out.
ENCODED = ("crop_path", "crop_sha256")
# Floats are compared to these decimals: the digest is of the output, not of the last bit of a float.
DECIMALS = 3


def digest(frame: pl.DataFrame) -> str:
    """sha256 of a table's rows (floats rounded, lists as lists), in the given order."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, (pl.List, pl.Array)) and t.inner.is_float()]
    rounded = frame.with_columns(
        [pl.col(c).round(DECIMALS) for c, t in frame.schema.items() if t.is_float()]
        + [pl.col(c).cast(pl.List(pl.Float64)).list.eval(pl.element().round(DECIMALS)) for c in lists]
    )
    return hashlib.sha256(json.dumps(rounded.to_dicts(), sort_keys=True, default=str).encode()).hexdigest()[:32]


def work_tables(out: Path, stage: str, name: str, folder: str = WORK_DIR) -> pl.DataFrame:
    folders = sorted((out / folder).glob(f"*/{stage}-*"))
    return pl.concat([pl.read_parquet(f / name) for f in folders], how="vertical_relaxed")


def track_members(assignments: pl.DataFrame) -> pl.DataFrame:
    """Each track as its sorted face ids and shot (track ids hash fingerprints, which hash the model file)."""
    members = assignments.group_by("track_id").agg(pl.col("face_id").sort(), pl.col("shot_index").first())
    return members.drop("track_id").sort(pl.col("face_id").list.first())


def curation_outputs(out: Path) -> dict[str, str]:
    """The curation stages' digests: stored per-video work, and the dataset stages run again on the manifests."""
    faces = pl.read_parquet(out / FACES_MANIFEST)
    videos = pl.read_parquet(out / VIDEOS_MANIFEST)
    frames = {p.parent.parent.name: pq.read_table(p) for p in (out / WORK_DIR).glob("*/frames-*/frames.parquet")}
    filtered = faces.drop("status").join(pl.from_arrow(FilterStage()(faces)).select("face_id", "status"), on="face_id")
    view = SelectStage()(faces.join(videos.select("video_id", "near_duplicate_of"), on="video_id"))
    return {
        "frames": digest(work_tables(out, "frames", "frames.parquet").sort("video_id", "frame_index")),
        "quality": digest(work_tables(out, "quality", "quality.parquet", CURATION_DIR).sort("face_id")),
        "tracks": digest(track_members(work_tables(out, "tracks", "tracks.parquet", CURATION_DIR))),
        "filter": digest(pl.from_arrow(FilterStage()(faces)).sort("face_id")),
        "duplicates": digest(pl.from_arrow(DuplicateStage()(filtered)).sort("face_id")),
        "near_duplicate_videos": digest(pl.from_arrow(NearDuplicateVideos()(video_signatures(videos, frames))).sort("video_id")),
        "select": digest(pl.from_arrow(view).drop("track_id", *ENCODED)),
    }


def outputs(fixture_corpus: Path, out: Path) -> dict[str, str]:
    """Each stage's output digest, from the session's default extraction of the fixture corpus."""
    probe = to_table(list(ProbeStage().run(snapshot(load_corpus(fixture_corpus)))), PROBE_SCHEMA)
    detect = work_tables(out, "detect", "detections.parquet")
    detect_videos = pl.DataFrame([json.loads(p.read_text()) for p in sorted((out / "work").glob("*/detect-*/video.json"))]).drop(
        "detect_fingerprint"
    )
    videos = pl.read_parquet(out / VIDEOS_MANIFEST).drop("detect_fingerprint", "align_fingerprint")
    return {
        "probe": digest(pl.from_arrow(probe)),
        "detect": digest(detect.sort("face_id")) + digest(detect_videos.sort("video_id")),
        "align": digest(work_tables(out, "align", "crops.parquet").sort("face_id").drop(*ENCODED)),
        "video": digest(videos),
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
        elif recorded["digest"] != value:
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
        unchanged = [s for s in found if s in golden and golden[s]["version"] == versions[s] and golden[s]["digest"] != found[s]]
        assert not unchanged, f"refusing to record a new output under an unchanged version: {unchanged}; bump the version first"
        GOLDEN.write_text(json.dumps({s: {"version": versions[s], "digest": found[s]} for s in found}, indent=1, sort_keys=True) + "\n")
    assert not check(golden if not os.environ.get(UPDATE_ENV) else json.loads(GOLDEN.read_text()), versions, found), "\n".join(
        check(golden, versions, found)
    )


def test_the_check_names_the_stage_and_says_what_to_do():
    golden = {"detect": {"version": 1, "digest": "aaa"}}
    assert check(golden, {"detect": 1}, {"detect": "aaa"}) == []
    [changed] = check(golden, {"detect": 1}, {"detect": "bbb"})
    assert "detect: the stage's output changed but its version is still 1: bump DetectStage.version" in changed
    [unrecorded] = check(golden, {"detect": 2}, {"detect": "bbb"})
    assert "version 2 has no recorded output" in unrecorded


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_declares_its_contract(name):
    stage = STAGES[name]
    assert stage.name == name and isinstance(stage.version, int) and stage.version >= 1
    assert stage.columns is not None and stage.inputs
