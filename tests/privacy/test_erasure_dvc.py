"""The consent gate and erasure, end to end: a real git repo, DVC cache and local remote, real clones.

One project lives through: a corpus with one video lacking consent (excluded, the rest released
as v1; forcing it in is refused); v2; ``forget --subject`` (v3 without the subject; ``audit``
clean in the tree, the cache and the remote; v1 from a fresh clone serves every other face and
names the erasure for the subject's; rerunning ingestion does not bring it back); then a preset
change and ``gc``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_params
from pipeline.dataset import load
from pipeline.errors import ErasedSampleError
from pipeline.privacy.dvcstore import DvcStore
from pipeline.runs.ingest import prepare
from tests.conftest import fixture
from tests.dvcproject import commit_all, make_project, sh, update_params

SUBJECT = "obama"
SIDECAR = """\
defaults: {license: CC-BY-4.0, consent: given, source: "facecorpus test fixtures"}
files:
  obama_portrait.jpg: {subject: obama}
  obama_whitehouse.jpg: {subject: obama}
  two_people.jpg: {subject: pair}
  lin_manuel_miranda.png: {consent: null, subject: lin}
"""


def crops_of(dataset) -> dict[str, str]:
    """{face_id: sha256 of its crop bytes read from the release's shards}."""
    faces = dataset.faces.select("face_id").collect()["face_id"].to_list()
    return {f: hashlib.sha256(dataset.read_crop_bytes(f)).hexdigest() for f in faces}


def release(project: Path, version: str, check: bool = True):
    return sh(project, "facecorpus", "release", version, check=check)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("erasure")
    root = make_project(tmp / "project", tmp / "remote", {"corpus": {"dir": "data/corpus"}, "extract": {"corpus": "data/corpus"}})
    corpus = root / "data" / "corpus"
    corpus.mkdir()
    for name in ("obama_portrait.jpg", "obama_whitehouse.jpg", "two_people.jpg", "lin_manuel_miranda.png"):
        shutil.copy(fixture(name), corpus / name)
    (corpus / "facecorpus.yaml").write_text(SIDECAR)
    sh(root, "dvc", "add", "-q", "data/corpus")
    commit_all(root, "corpus with one video lacking consent")
    sh(root, "dvc", "repro")
    assert "released v1" in release(root, "v1").stdout
    return root


class _Page(HTMLParser):
    """A report page read with the standard library's parser: its images and what their map areas link to."""

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, str] = {}  # map name -> img src
        self.areas: dict[str, list[str]] = {}  # map name -> area hrefs and titles
        self._map: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("usemap"):
            self.images[attrs["usemap"].lstrip("#")] = attrs["src"]
        elif tag == "map":
            self._map = attrs.get("name")
        elif tag == "area" and self._map:
            self.areas.setdefault(self._map, []).extend([attrs.get("href") or "", attrs.get("title") or ""])


def report_files_showing(release_dir: Path, ids: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({md5: path} of the report's pages naming an id and images whose map names one, {md5: path} of its other images)."""
    showing, others = {}, {}
    report = release_dir / "report"
    for page_path in sorted(report.rglob("*.html")):
        text = page_path.read_text(encoding="utf-8")
        if not any(i in text for i in ids):
            continue
        showing[hashlib.md5(page_path.read_bytes()).hexdigest()] = str(page_path.relative_to(release_dir))
        page = _Page()
        page.feed(text)
        for name, src in page.images.items():
            if any(i in area for area in page.areas.get(name, []) for i in ids):
                image = (page_path.parent / src).resolve()
                showing[hashlib.md5(image.read_bytes()).hexdigest()] = str(image.relative_to(release_dir.resolve()))
    for image in sorted(report.rglob("*.jpg")):
        digest = hashlib.md5(image.read_bytes()).hexdigest()
        if digest not in showing:
            others[digest] = str(image.relative_to(release_dir))
    return showing, others


def subject_ids(project: Path) -> set[str]:
    """The subject's face and video ids in the release folder now (the subject is erased whole: scope video)."""
    faces = pl.read_parquet(project / "data" / "release" / "faces.parquet").filter(pl.col("subject") == SUBJECT)
    return set(faces["face_id"]) | set(faces["video_id"])


@pytest.fixture(scope="module")
def v1(project):
    """What v1 served before any erasure: {face_id: crop sha256}, the subject's face ids, one of its crops'
    bytes, and its report's files that show the subject and those that do not (report_files_showing)."""
    ds = load(project / "data" / "release")
    subject = set(ds.faces.filter(pl.col("subject") == SUBJECT).collect()["face_id"].to_list())
    report = report_files_showing(project / "data" / "release", subject_ids(project))
    return crops_of(ds), subject, ds.read_crop_bytes(sorted(subject)[0]), report


def test_a_video_lacking_consent_is_excluded_with_its_reason_and_never_decoded(project, v1):
    videos = pl.read_parquet(project / "data" / "release" / "videos.parquet")
    lin = videos.filter(pl.col("uri") == "lin_manuel_miranda.png").row(0, named=True)
    assert lin["status"] == "excluded" and "no consent recorded (policy.require_consent)" in lin["error"]
    assert lin["frames_sampled"] == 0 and lin["faces_found"] == 0
    assert not (project / "data" / "detections" / "work" / lin["video_id"]).exists()  # nothing decoded or stored
    faces = pl.read_parquet(project / "data" / "release" / "faces.parquet")
    assert set(faces["uri"]) == {"obama_portrait.jpg", "obama_whitehouse.jpg", "two_people.jpg"}
    assert len(v1[1]) >= 2
    card = json.loads((project / "releases" / "v1.json").read_text())
    assert card["counts"]["videos_excluded"] == 1 and card["counts"]["videos_failed"] == 0
    responsible = card["responsible"]
    assert responsible["policy"]["require_consent"] is True and "given" in responsible["policy"]["allowed_consent"]
    assert responsible["faces_by"]["consent"] == {"given": faces.height}
    assert responsible["faces_by"]["license"] == {"CC-BY-4.0": faces.height}
    assert responsible["erasures_since_previous"]["erasures"] == 0
    assert "## Responsible data" in (project / "releases" / "v1.md").read_text()


@pytest.fixture(scope="module")
def forced_in(project, v1):
    """Force the excluded video in (extract with the consent rule off on the command line, then pack)
    and try to release; then `dvc repro` (the policy applies again) and gc its orphaned work."""
    sh(project, "facecorpus", "extract", "data/corpus", "--params", "params.yaml", "--no-require-consent", "--no-progress")
    sh(project, "facecorpus", "pack", "data/dataset", "--params", "params.yaml")
    packed = set(pl.read_parquet(project / "data" / "release" / "faces.parquet")["uri"])
    refused = release(project, "v1.1", check=False)
    tags = sh(project, "git", "tag", "--list").stdout.split()
    sh(project, "dvc", "repro")
    repacked = set(pl.read_parquet(project / "data" / "release" / "faces.parquet")["uri"])
    videos = pl.read_parquet(project / "data" / "dataset" / "videos.parquet")
    lin_id = videos.filter(pl.col("uri") == "lin_manuel_miranda.png")["video_id"][0]
    listed = sh(project, "facecorpus", "gc", "--params", "params.yaml", "--dry-run").stdout
    sh(project, "facecorpus", "gc", "--params", "params.yaml")
    return packed, refused, tags, repacked, lin_id, listed


def test_releasing_with_the_excluded_video_forced_in_is_refused(project, forced_in):
    packed, refused, tags, repacked, lin_id, listed = forced_in
    assert "lin_manuel_miranda.png" in packed
    assert refused.returncode == 1 and "release refused" in refused.stdout
    assert "break the policy" in refused.stdout and "lin_manuel_miranda.png" in refused.stdout and "no consent" in refused.stdout
    assert sorted(tags) == ["release@v1.0.0", "v1"]  # v1 and its artifact tag (issue 20); no v1.1
    assert "lin_manuel_miranda.png" not in repacked
    # Its forced-in work and crops were orphans (a video no longer admitted): gc listed and removed them.
    assert lin_id in listed and sum(lin_id in line for line in listed.splitlines()) == 6  # detect, frames, align, quality, tracks, embed
    assert not any((project / "data" / root / "work" / lin_id).exists() for root in ("dataset", "detections"))
    assert not (project / "data" / "dataset" / "curation" / lin_id).exists()


@pytest.fixture(scope="module")
def erased(project, forced_in):
    """v2 (the same faces in small shards: one face each, so some of v2's shards hold the subject and
    some do not), then forget the subject, commit the log, repro and release v3."""
    update_params(project, {"pack": {"shard_mb": 0.02}})
    commit_all(project, "small shards")
    sh(project, "dvc", "repro")  # the pack stage only
    release(project, "v2")
    v2_report = report_files_showing(project / "data" / "release", subject_ids(project))
    out = sh(project, "facecorpus", "forget", "--subject", SUBJECT, "--reason", "consent withdrawn", "--params", "params.yaml").stdout
    assert "erased (" in out
    log = pl.read_parquet(project / "erasures.parquet")
    commit_all(project, "erase subject")
    sh(project, "dvc", "repro")
    release(project, "v3")
    return {**log.row(0, named=True), "v2_report": v2_report}


def test_forget_erases_the_subject_from_the_next_release_and_records_why(project, v1, erased):
    faces = pl.read_parquet(project / "data" / "release" / "faces.parquet")
    assert SUBJECT not in set(faces["subject"].drop_nulls()) and faces.height > 0
    assert not set(faces["face_id"]) & v1[1]
    assert erased["reason"] == "consent withdrawn" and erased["target_kind"] == "subject" and erased["scope"] == "video"
    assert set(erased["face_ids"]) >= v1[1] and len(erased["video_ids"]) == 2
    # v1's one shard and v2's shards holding the subject were deleted; v2's other shards were left alone.
    # So were v1's and v2's report pages naming the subject's faces and the images showing them.
    reports = set(v1[3][0]) | set(erased["v2_report"][0])
    shards = [m for m in erased["shard_md5"] if m not in reports]
    assert reports <= set(erased["shard_md5"]) and len(erased["shard_md5"]) == len(erased["replaced_by"])
    v2_shards = json.loads((project / "releases" / "v2.json").read_text())["counts"]["shards"]
    assert 1 + len(v1[1]) == len(shards) and v2_shards > len(v1[1])
    assert erased["replaced_by"].count("") == len(v1[1]) + len(reports)  # a one-face shard of the subject leaves nothing to repack
    assert not {"bbox_xyxy_px", "landmarks5_px", "embedding"} & set(pl.read_parquet(project / "erasures.parquet").columns)  # no face data
    card = json.loads((project / "releases" / "v3.json").read_text())
    since = card["responsible"]["erasures_since_previous"]
    assert (since["previous"], since["erasures"], since["videos"]) == ("v2", 1, 2)
    assert since["by_reason"] == {"consent withdrawn": 1} and since["by_kind"] == {"subject": 1}
    assert SUBJECT not in (project / "releases" / "v3.md").read_text()  # counts and reasons, no identities
    validation = json.loads((project / "data" / "dataset" / "reports" / "validation.json").read_text())
    assert validation["passed"] is True


def test_old_reports_lose_the_pages_and_images_showing_the_subject_and_keep_the_rest(project, v1, erased):
    """Contact sheets and frame views are face images: an old release's report files that show an
    erased face leave the cache and the remote; its other images stay (content-addressed objects
    may serve other releases)."""
    showing, others = v1[3]
    assert any(path.endswith(".jpg") for path in showing.values()), "v1's report shows the subject in no image: the fixture changed"
    assert others, "every v1 report image shows the subject: the test could not tell over-deletion"
    store = DvcStore(project)
    for md5, path in {**showing, **erased["v2_report"][0]}.items():
        assert store.read(md5) is None, f"{path} ({md5}) still in the cache or remote"
    for md5, path in others.items():
        assert store.read(md5) is not None, f"{path} ({md5}) shows no erased face, yet was deleted"


def test_audit_finds_nothing_in_the_tree_the_cache_or_the_remote(project, erased):
    result = sh(project, "facecorpus", "audit", "--params", "params.yaml", check=False)
    assert result.returncode == 0, result.stdout
    assert "1 erasures checked, 0 finds" in result.stdout


def test_audit_finds_an_erased_crop_put_back(project, v1, erased):
    """The audit can fail: a copy of an erased crop's bytes in the tree, or a row naming an erased face, is a find."""
    stray = project / "data" / "dataset" / "stray.bin"
    stray.write_bytes(v1[2])
    try:
        result = sh(project, "facecorpus", "audit", "--params", "params.yaml", "--no-dvc", check=False)
        assert result.returncode == 1 and f"FOUND [tree] {stray}: bytes of an erased crop" in result.stdout
        stray.write_text(f"notes on face {erased['face_ids'][0]}")
        result = sh(project, "facecorpus", "audit", "--params", "params.yaml", "--no-dvc", check=False)
        assert result.returncode == 1 and f"names erased id {erased['face_ids'][0]}" in result.stdout
    finally:
        stray.unlink()


def test_v1_from_a_fresh_clone_serves_every_other_face_and_names_the_erasure(project, v1, erased, tmp_path):
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))
    ds = load(str(clone), rev="v1", cache_dir=tmp_path / "cache")
    served, subject, _, _ = v1
    assert set(ds.faces.collect()["face_id"]) == set(served)  # the old manifest still lists every face
    for face_id, digest in served.items():
        if face_id in subject:
            with pytest.raises(ErasedSampleError, match=f"erasure {erased['erasure_id']}.*consent withdrawn"):
                ds.read_crop_bytes(face_id)
        else:
            assert hashlib.sha256(ds.read_crop_bytes(face_id)).hexdigest() == digest
    assert {s.face_id for s in ds.iter_samples(skip_erased=True)} == set(served) - subject
    with pytest.raises(ErasedSampleError, match=erased["erasure_id"]):
        list(ds.iter_samples())


def test_rerunning_ingestion_over_the_corpus_still_holding_the_file_does_not_bring_it_back(project, erased, monkeypatch):
    assert (project / "data" / "corpus" / "obama_portrait.jpg").is_file()
    monkeypatch.chdir(project)  # params.yaml's paths are relative to the project, as for every command
    plan = prepare(load_params(project / "params.yaml"))  # the ingest flow's planning half
    assert not {i.video_id for i in plan.inputs} & set(erased["video_ids"]) and plan.admission.denied == 2
    sh(project, "facecorpus", "extract", "data/corpus", "--params", "params.yaml", "--no-progress")
    faces = pl.read_parquet(project / "data" / "dataset" / "faces.parquet")
    videos = pl.read_parquet(project / "data" / "dataset" / "videos.parquet")
    assert SUBJECT not in set(faces["subject"].drop_nulls()) and not set(videos["video_id"]) & set(erased["video_ids"])
    assert sh(project, "facecorpus", "audit", "--params", "params.yaml", check=False).returncode == 0


def test_gc_lists_exactly_the_orphans_of_a_preset_change_and_validation_passes_after(project, erased):
    dataset = project / "data" / "dataset"
    # The stages downstream of the crops: align, then quality and embed (issue 14) read the crops.
    before_folders = {p for p in (dataset / "work").glob("*/align-*")} | {
        p for stage in ("quality", "embed") for p in (dataset / "curation").glob(f"*/{stage}-*")
    }
    before_crops = {p for p in (dataset / "crops").rglob("*") if p.is_file()}
    update_params(project, {"extract": {"margin": 0.1}})
    commit_all(project, "wider crops")
    sh(project, "dvc", "repro")
    referenced = {dataset / p for p in pl.read_parquet(dataset / "faces.parquet")["crop_path"]}
    assert not referenced & before_crops  # every crop changed with the preset
    listed = sh(project, "facecorpus", "gc", "--params", "params.yaml", "--dry-run").stdout
    would = {Path(line.removeprefix("would remove ")) for line in listed.splitlines() if line.startswith("would remove ")}
    assert {project / p if not p.is_absolute() else p for p in would} == before_folders | before_crops
    assert all(p.exists() for p in before_folders | before_crops)  # a dry run removes nothing
    sh(project, "facecorpus", "gc", "--params", "params.yaml")
    assert not any(p.exists() for p in before_folders | before_crops) and all(p.is_file() for p in referenced)
    sh(project, "facecorpus", "validate", "data/dataset", "--params", "params.yaml", "--no-docs")
    assert sh(project, "facecorpus", "gc", "--params", "params.yaml", "--dry-run").stdout.strip().endswith("0 crops, 0 masks (dry run)")
