"""Packing crops into WebDataset tar shards, reading them back, the loose export."""

from __future__ import annotations

import hashlib
import tarfile

import polars as pl
import pytest

from pipeline.dataset import Dataset
from pipeline.release.export import export_loose
from pipeline.release.pack import pack_dataset


@pytest.fixture(scope="module")
def packed(extracted, tmp_path_factory):
    dataset, _ = extracted
    out = tmp_path_factory.mktemp("packed")
    summary = pack_dataset(dataset, out, shard_mb=0.05)  # tiny shards: several of them
    return dataset, out, summary


def test_shards_hold_every_crop_in_webdataset_order(packed):
    dataset, out, summary = packed
    faces = pl.read_parquet(dataset / "faces.parquet")
    index = pl.read_parquet(out / "shard_index.parquet")
    assert summary.shards == index.height > 1 and index["count"].sum() == faces.height == summary.faces
    names = []
    for shard, count, size, digest in index.rows():
        data = (out / shard).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == digest and size <= 0.05e6 + 20_000
        with tarfile.open(out / shard) as tar:
            members = tar.getnames()
        assert len(members) == 2 * count
        assert [m.rsplit(".", 1)[0] for m in members[0::2]] == [m.rsplit(".", 1)[0] for m in members[1::2]]
        names += [m.rsplit(".", 1)[0] for m in members[0::2]]
    assert names == faces["face_id"].to_list()


def test_crops_read_from_shards_are_the_extracted_bytes(packed):
    dataset, out, _ = packed
    release = Dataset(out)
    release.verify()
    for face_id, crop_path, crop_sha in pl.read_parquet(dataset / "faces.parquet").select("face_id", "crop_path", "crop_sha256").rows():
        data = release.read_crop_bytes(face_id)
        assert data == (dataset / crop_path).read_bytes() and hashlib.sha256(data).hexdigest() == crop_sha
    samples = list(release.iter_samples())
    assert [s.face_id for s in samples] == release.faces.collect()["face_id"].to_list()
    assert samples[0].image_rgb.shape == (112, 112, 3) and samples[0].fields["uri"]


def test_packing_again_writes_nothing_and_a_corrupt_shard_is_caught(packed, tmp_path):
    dataset, out, _ = packed
    again = pack_dataset(dataset, out, shard_mb=0.05)
    assert again.shards_rewritten == 0
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    shard = sorted((copy / "shards").glob("*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the shard index"):
        Dataset(copy).verify()


def test_loose_export_writes_browsable_files(packed, tmp_path):
    _, out, summary = packed
    assert export_loose(out, tmp_path / "loose") == summary.faces
    pngs = [p for p in (tmp_path / "loose").rglob("*.png") if p.is_file()]
    assert len(pngs) == summary.faces
    table = pl.read_csv(tmp_path / "loose" / "faces.csv")
    assert table.height == summary.faces and "license" in table.columns
    assert (tmp_path / "loose" / "hamilton.mp4").is_dir()


def test_the_shards_contract_checks_a_release(packed, tmp_path):
    import shutil

    from pipeline.validate.suites import validate_dataset

    _, out, _ = packed

    def failed(release):
        report = validate_dataset(release, reports_dir=tmp_path / f"reports-{release.name}", build_docs=False, only=["shards"])
        return report.failed_checks()

    assert failed(out) == set()
    missing = tmp_path / "missing"
    shutil.copytree(out, missing, ignore=shutil.ignore_patterns("manifests.json"))  # no commit file: a hand-edited copy
    locations = pl.read_parquet(missing / "crop_locations.parquet")
    locations.slice(1).write_parquet(missing / "crop_locations.parquet")  # the first face loses its location
    assert failed(missing) == {
        "shards.crop_located",
        "shards.shard_in_index",
        "shards.shard_sha256_matches",
        "shards.member_sha256_matches",
    }

    header = tmp_path / "header"
    shutil.copytree(out, header)
    shard = header / sorted(pl.read_parquet(out / "shard_index.parquet")["shard"])[0]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01  # inside the first tar header: the shard changes, no crop's bytes do
    shard.write_bytes(bytes(data))
    assert failed(header) == {"shards.shard_sha256_matches"}

    member = tmp_path / "member"
    shutil.copytree(out, member)
    shard = member / sorted(pl.read_parquet(out / "shard_index.parquet")["shard"])[0]
    data = bytearray(shard.read_bytes())
    data[600] ^= 0x01  # inside the first crop's bytes
    shard.write_bytes(bytes(data))
    assert failed(member) == {"shards.shard_sha256_matches", "shards.member_sha256_matches"}


def test_a_group_table_the_dataset_lacks_leaves_the_release_and_a_torn_one_is_refused(extracted, tmp_path):
    """Curation II's tables (pairs, identities, ...) follow the dataset: one it does not have is not
    left from an earlier pack, and one that differs from the dataset's commit file is refused, by
    pack and by the loader."""
    import json
    import shutil

    from pipeline.errors import TornDatasetError
    from pipeline.fsutil import COMMIT_FILE
    from schemas.manifests import PAIRS_MANIFEST

    dataset = tmp_path / "dataset"
    shutil.copytree(extracted[0], dataset)
    release = tmp_path / "release"
    pack_dataset(dataset, release)
    assert (release / PAIRS_MANIFEST).is_file()
    Dataset(release).pairs.collect()
    (dataset / PAIRS_MANIFEST).unlink()  # a dataset without the table (made before it existed)
    commit = json.loads((dataset / COMMIT_FILE).read_text())
    del commit["tables"][PAIRS_MANIFEST]
    (dataset / COMMIT_FILE).write_text(json.dumps(commit))
    pack_dataset(dataset, release)
    assert not (release / PAIRS_MANIFEST).exists()
    assert PAIRS_MANIFEST not in json.loads((release / COMMIT_FILE).read_text())["tables"]
    assert Dataset(release).pairs.collect().height == 0
    splits = dataset / "splits.parquet"
    splits.write_bytes(splits.read_bytes() + b"\0")  # torn: no longer what the commit file names
    with pytest.raises(TornDatasetError, match="splits.parquet"):
        pack_dataset(dataset, release)
    (release / "splits.parquet").write_bytes(b"edited")
    with pytest.raises(TornDatasetError, match="splits.parquet"):
        Dataset(release).splits.collect()
