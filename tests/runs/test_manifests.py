"""The dataset's tables as one published unit: what a curate run writes whatever its settings."""

from __future__ import annotations

import json
import shutil

import polars as pl
import yaml

from pipeline.cli.main import main
from pipeline.fsutil import COMMIT_FILE, publish_tables, table_bytes
from schemas.manifests import EMBEDDINGS_MANIFEST, FACES_MANIFEST
from tests.conftest import fixture


def test_without_an_embedder_an_empty_embeddings_table_replaces_a_stale_one(tmp_path, monkeypatch):
    """curate.embedder none: embeddings.parquet is still published (the DVC curate stage declares
    it), empty, and an earlier run's vectors do not stay beside the new faces."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    shutil.copy(fixture("two_people.jpg"), tmp_path / "corpus" / "two_people.jpg")
    params = {"extract": {"corpus": "corpus", "out": "ds"}, "corpus": {"snapshot_dir": "snap"}, "curate": {"embedder": "none"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["extract", "--no-progress", "--params", "params.yaml"]) == 0
    dataset = tmp_path / "ds"
    assert pl.read_parquet(dataset / FACES_MANIFEST).height == 2
    assert pl.read_parquet(dataset / EMBEDDINGS_MANIFEST).height == 0
    assert EMBEDDINGS_MANIFEST in json.loads((dataset / COMMIT_FILE).read_text())["tables"]
    stale = pl.DataFrame({"face_id": ["gone"], "embedder": ["old"], "embedding": [[0.5] * 128]})
    publish_tables(dataset, {EMBEDDINGS_MANIFEST: table_bytes(stale.to_arrow())})
    assert main(["extract", "--no-progress", "--params", "params.yaml"]) == 0  # a rerun: curation from stored work
    assert pl.read_parquet(dataset / EMBEDDINGS_MANIFEST).height == 0
