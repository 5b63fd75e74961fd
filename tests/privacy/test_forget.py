"""forget by identity (single faces of a video) and by uri, in a dataset folder with no DVC: rows, crops,
work rows, the erasure log, the deny-list on the next run, and the audit."""

from __future__ import annotations

import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli.main import main
from pipeline.fsutil import publish_tables, table_bytes
from pipeline.privacy.select import identity_group
from schemas.manifests import IDENTITIES_MANIFEST, IDENTITIES_SCHEMA
from tests.conftest import fixture

SIDECAR = "defaults: {license: CC0, consent: given, source: fixtures}\n"


def facecorpus(*argv: str) -> int:
    return main([*argv, "--params", "params.yaml"])


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    for name in ("two_people.jpg", "obama_portrait.jpg"):
        shutil.copy(fixture(name), tmp_path / "corpus" / name)
    (tmp_path / "corpus" / "facecorpus.yaml").write_text(SIDECAR)
    params = {
        "extract": {"corpus": "corpus", "out": "ds"},
        "corpus": {"snapshot_dir": "snap"},
        "policy": {"require_consent": True, "erasures": "erasures.parquet"},
        "curate": {"embedder": "none"},  # identities are given by hand below, one per face
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert facecorpus("extract", "--no-progress") == 0
    return tmp_path / "ds"


def with_identities(dataset) -> pl.DataFrame:
    """Give the faces an identity_id column, as the identities stage does (issue 14): one per face here."""
    faces = pl.read_parquet(dataset / "faces.parquet")
    faces = faces.with_columns(pl.format("person-{}", pl.int_range(pl.len())).alias("identity_id"))
    publish_tables(dataset, {"faces.parquet": table_bytes(faces.to_arrow())})  # the dataset's tables stay one unit
    return faces


def test_forget_identity_needs_an_identity_column(dataset, capsys):
    assert facecorpus("forget", "--identity", "person-0", "--reason", "request", "--no-dvc") == 2
    assert "no face carries an identity_id" in capsys.readouterr().err
    assert not (dataset.parent / "erasures.parquet").exists()


def test_forget_identity_erases_one_face_and_keeps_the_rest_of_its_video(dataset, capsys):
    faces = with_identities(dataset)
    pair = faces.filter(pl.col("uri") == "two_people.jpg")
    assert pair.height == 2
    gone, kept = pair.row(0, named=True), pair.row(1, named=True)
    # Any top-level table with *face_id* columns (as embeddings and pairs are, issue 14): rows naming it go.
    # (Names of their own: the pipeline's curation rewrites embeddings.parquet and pairs.parquet.)
    ids = faces["face_id"].to_list()
    embeddings = pl.DataFrame({"face_id": ids, "embedding": [[0.5, 0.5]] * len(ids)})
    pairs = pl.DataFrame({"face_id_a": ids, "face_id_b": ids[1:] + ids[:1], "same": [True] * len(ids)})
    publish_tables(
        dataset, {"face_vectors.parquet": table_bytes(embeddings.to_arrow()), "face_links.parquet": table_bytes(pairs.to_arrow())}
    )
    assert facecorpus("forget", "--identity", gone["identity_id"], "--reason", "asked to be removed", "--no-dvc") == 0
    after = pl.read_parquet(dataset / "faces.parquet")
    assert gone["face_id"] not in set(after["face_id"]) and kept["face_id"] in set(after["face_id"])
    assert not (dataset / gone["crop_path"]).exists() and (dataset / kept["crop_path"]).is_file()
    tables = [pq.read_table(p) for p in (dataset / "work" / gone["video_id"]).rglob("*.parquet")]
    per_face = [t for t in tables if "face_id" in t.column_names]
    assert per_face and all(gone["face_id"] not in set(t.column("face_id").to_pylist()) for t in per_face)
    assert all(kept["face_id"] in set(t.column("face_id").to_pylist()) for t in per_face)
    assert set(pl.read_parquet(dataset / "face_vectors.parquet")["face_id"]) == set(ids) - {gone["face_id"]}
    pairs = pl.read_parquet(dataset / "face_links.parquet")
    assert pairs.height == len(ids) - 2 and gone["face_id"] not in set(pairs["face_id_a"]) | set(pairs["face_id_b"])
    video = pl.read_parquet(dataset / "videos.parquet").filter(pl.col("video_id") == gone["video_id"]).row(0, named=True)
    assert video["status"] == "ok" and video["faces_found"] == 1  # counts follow the erased face
    log = pl.read_parquet(dataset.parent / "erasures.parquet").row(0, named=True)
    assert log["scope"] == "face" and log["face_ids"] == [gone["face_id"]] and log["crop_sha256"] == [gone["crop_sha256"]]
    # The next run does not bring the face back, though the image is still in the corpus; the audit is clean.
    assert facecorpus("extract", "--no-progress") == 0
    assert gone["face_id"] not in set(pl.read_parquet(dataset / "faces.parquet")["face_id"])
    assert facecorpus("audit", "--no-dvc") == 0
    assert facecorpus("validate", "ds", "--no-docs") == 0
    capsys.readouterr()


def test_identity_group_follows_aliases_transitively_either_way():
    registry = pl.DataFrame(
        {"identity_id": ["a", "b", "c", "x", "y"], "alias_of": [None, "a", "b", None, "x"]},
        schema={"identity_id": pl.String, "alias_of": pl.String},
    )
    assert identity_group("c", registry) == identity_group("a", registry) == identity_group("b", registry) == {"a", "b", "c"}
    assert identity_group("y", registry) == {"x", "y"} and identity_group("z", registry) == {"z"}
    assert identity_group("a", None) == {"a"}


def test_forget_identity_erases_the_ids_merged_with_it(dataset, capsys):
    """A request may name an id the registry has since merged (an id from an older release): every
    face of that person goes, whichever of its ids the faces carry now."""
    faces = with_identities(dataset)
    assert faces.height >= 3
    ids = sorted(faces["identity_id"])
    # person-old was merged into ids[1], and ids[1] into ids[0]; ids[2:] are other people.
    rows = [(i, None) for i in ids] + [("person-old", ids[1])]
    rows = [(i, ids[0] if i == ids[1] else alias) for i, alias in rows]
    registry = [
        {
            "identity_id": i,
            "source": "cluster",
            "subject": None,
            "alias_of": a,
            "embedder": "test",
            "tracks": 1,
            "faces": 1,
            "videos": 1,
            "centroid": [0.0],
        }
        for i, a in rows
    ]
    publish_tables(dataset, {IDENTITIES_MANIFEST: table_bytes(pa.Table.from_pylist(registry, schema=IDENTITIES_SCHEMA))})
    assert facecorpus("forget", "--identity", "person-old", "--reason", "asked, by an old id", "--no-dvc") == 0
    gone = faces.filter(pl.col("identity_id").is_in(ids[:2]))
    log = pl.read_parquet(dataset.parent / "erasures.parquet").row(0, named=True)
    assert sorted(log["face_ids"]) == sorted(gone["face_id"]) and len(log["face_ids"]) == 2
    left = set(pl.read_parquet(dataset / "faces.parquet")["face_id"])
    assert not left & set(gone["face_id"]) and set(faces["face_id"]) - set(gone["face_id"]) <= left
    assert not {"person-old", *ids[:2]} & set(pl.read_parquet(dataset / IDENTITIES_MANIFEST)["identity_id"])
    capsys.readouterr()


def test_forget_by_uri_and_the_log_is_only_appended_to(dataset, capsys):
    faces = with_identities(dataset)
    assert facecorpus("forget", "--identity", "person-0", "--reason", "first", "--no-dvc") == 0
    assert facecorpus("forget", "--uri", "obama_portrait.jpg", "--reason", "second", "--no-dvc") == 0
    log = pl.read_parquet(dataset.parent / "erasures.parquet")
    assert log["reason"].to_list() == ["first", "second"] and log["target_kind"].to_list() == ["identity", "uri"]
    obama = faces.filter(pl.col("uri") == "obama_portrait.jpg")["video_id"][0]
    assert obama not in set(pl.read_parquet(dataset / "videos.parquet")["video_id"])
    assert not (dataset / "work" / obama).exists() and not any((dataset / "snapshots").glob("*.json"))
    assert facecorpus("forget", "--uri", "obama_portrait.jpg", "--reason", "again", "--no-dvc") == 2  # nothing left to erase
    assert "nothing to erase" in capsys.readouterr().err
    assert facecorpus("audit", "--no-dvc") == 0


def test_a_local_copy_missing_an_erased_shard_names_the_erasure_and_serves_the_rest(dataset, tmp_path):
    """A `dvc pull` of an old tag lacks the shards an erasure deleted: load(..., erasures=log) names the
    erasure for those faces, and reads every other face (one face per shard here)."""
    from pipeline.corpus.erasures import Erasure, append_erasure
    from pipeline.dataset import load
    from pipeline.errors import ErasedSampleError
    from pipeline.release.pack import pack_dataset

    release = tmp_path / "release"
    pack_dataset(dataset, release, shard_mb=0.01)
    locations = pl.read_parquet(release / "crop_locations.parquet")
    assert locations["shard"].n_unique() == locations.height == 3
    gone = locations.row(0, named=True)
    log = tmp_path / "log.parquet"
    append_erasure(log, Erasure("e1", "2026-01-01T00:00:00+00:00", "asked", "identity", "p1", "face", (), (gone["face_id"],), ()))
    (release / gone["shard"]).unlink()
    ds = load(release, erasures=log)
    with pytest.raises(ErasedSampleError, match=r"erasure e1 .*reason: asked"):
        ds.read_crop(gone["face_id"])
    others = set(locations["face_id"]) - {gone["face_id"]}
    assert all(ds.read_crop(f).shape == (112, 112, 3) for f in others)
    assert {s.face_id for s in ds.iter_samples(skip_erased=True)} == others
    with pytest.raises(ErasedSampleError, match="e1"):
        list(ds.iter_samples())
    with pytest.raises(FileNotFoundError, match="shard missing"):  # without the log: a clear missing-shard error
        load(release).read_crop_bytes(gone["face_id"])
