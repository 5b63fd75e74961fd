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
from pipeline.records import FaceRecord, from_table, to_table
from pipeline.stages.align import AlignStage
from pipeline.stages.detect import DetectStage
from pipeline.stages.measures import FaceMeasures
from pipeline.stages.probe import ProbeStage
from pipeline.stages.video import VideoPass
from schemas.manifests import FACES_MANIFEST, MEASURES_SCHEMA, PROBE_SCHEMA, VIDEOS_MANIFEST

GOLDEN = Path(__file__).with_name("golden.json")
UPDATE_ENV = "FACECORPUS_UPDATE_GOLDEN"
STAGES = {"probe": ProbeStage, "detect": DetectStage, "align": AlignStage, "video": VideoPass, "measures": FaceMeasures}
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


def work_tables(out: Path, stage: str, name: str) -> pl.DataFrame:
    folders = sorted((out / "work").glob(f"*/{stage}-*"))
    return pl.concat([pl.read_parquet(f / name) for f in folders], how="vertical_relaxed")


def outputs(fixture_corpus: Path, out: Path) -> dict[str, str]:
    """Each stage's output digest, from the session's default extraction of the fixture corpus."""
    probe = to_table(list(ProbeStage().run(snapshot(load_corpus(fixture_corpus)))), PROBE_SCHEMA)
    detect = work_tables(out, "detect", "detections.parquet")
    detect_videos = pl.DataFrame([json.loads(p.read_text()) for p in sorted((out / "work").glob("*/detect-*/video.json"))]).drop(
        "detect_fingerprint"
    )
    videos = pl.read_parquet(out / VIDEOS_MANIFEST).drop("detect_fingerprint", "align_fingerprint")
    faces = from_table(pq.read_table(out / FACES_MANIFEST), FaceRecord)
    measures = to_table(list(FaceMeasures(out).run(faces)), MEASURES_SCHEMA)
    return {
        "probe": digest(pl.from_arrow(probe)),
        "detect": digest(detect.sort("face_id")) + digest(detect_videos.sort("video_id")),
        "align": digest(work_tables(out, "align", "crops.parquet").sort("face_id")),
        "video": digest(videos),
        "measures": digest(pl.from_arrow(measures)),
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
