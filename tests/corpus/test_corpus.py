"""Corpus input: folders walked and probed, manifests, DFDC metadata, paths kept inside the root."""

from __future__ import annotations

import json
import os
import shutil

import polars as pl
import pytest

from pipeline.corpus.load import load_corpus
from pipeline.errors import CorpusError
from tests.conftest import fixture


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub dir" / "ünïcode").mkdir(parents=True)
    shutil.copy(fixture("two_people.jpg"), root / "sub dir" / "ünïcode" / "no extension")
    shutil.copy(fixture("hamilton.mp4"), root / "clip with spaces.MP4")
    (root / ".hidden.mp4").write_bytes(b"x")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.mp4").write_bytes(b"x")
    return root


def test_folder_is_walked_recursively_and_hidden_files_skipped(folder):
    corpus = load_corpus(folder)
    assert [e.uri for e in corpus.entries] == ["clip with spaces.MP4", "sub dir/ünïcode/no extension"]
    assert all(e.problem is None and e.path.is_file() for e in corpus.entries)


def test_dfdc_metadata_json_labels_the_files_it_names(folder):
    meta = {"clip with spaces.MP4": {"label": "FAKE", "original": "orig.mp4", "split": "train"}}
    (folder / "metadata.json").write_text(json.dumps(meta))
    by_uri = {e.uri: e for e in load_corpus(folder).entries}
    assert "metadata.json" not in by_uri
    assert by_uri["clip with spaces.MP4"].fields["label"] == "FAKE"
    assert by_uri["clip with spaces.MP4"].fields["original"] == "orig.mp4"
    assert by_uri["sub dir/ünïcode/no extension"].fields["label"] is None
    direct = load_corpus(folder / "metadata.json")
    assert [e.uri for e in direct.entries] == ["clip with spaces.MP4"]


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_corpus_manifests_carry_their_fields(folder, kind):
    rows = [
        {"uri": "clip with spaces.MP4", "label": "real", "license": "CC-BY-4.0", "consent": "yes", "source": "s1"},
        {"uri": "sub dir/ünïcode/no extension", "label": "fake", "license": None, "consent": "no", "source": "s2"},
    ]
    frame = pl.DataFrame(rows)
    path = folder / f"corpus.{kind}"
    {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "parquet": frame.write_parquet}[kind](path)
    corpus = load_corpus(path)
    assert corpus.root == folder.resolve()
    fields = {e.uri: e.fields for e in corpus.entries}
    assert fields["clip with spaces.MP4"]["license"] == "CC-BY-4.0"
    assert fields["sub dir/ünïcode/no extension"]["consent"] == "no"
    assert fields["sub dir/ünïcode/no extension"]["license"] is None
    assert set(fields["clip with spaces.MP4"]) == {"label", "original", "subject", "split", "license", "consent", "source"}


def test_paths_may_not_escape_the_root_and_missing_files_are_flagged(folder, tmp_path):
    outside = tmp_path / "outside.mp4"
    shutil.copy(fixture("hamilton.mp4"), outside)
    os.symlink(outside, folder / "link.mp4")
    pl.DataFrame({"uri": ["../outside.mp4", str(outside), "gone.mp4", "clip with spaces.MP4"]}).write_csv(folder / "c.csv")
    problems = {e.uri: e.problem for e in load_corpus(folder / "c.csv").entries}
    assert problems["../outside.mp4"] == "../outside.mp4: path escapes the corpus root"
    assert "escapes the corpus root" in problems[str(outside)]
    assert problems["gone.mp4"] == "gone.mp4: file not found"
    assert problems["clip with spaces.MP4"] is None
    walked = {e.uri: e.problem for e in load_corpus(folder).entries}
    assert walked["link.mp4"] == "link.mp4: path escapes the corpus root"


def test_bad_corpus_descriptions_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "m.csv").write_text("path,label\na.mp4,real\n")
    with pytest.raises(CorpusError, match="needs a 'uri' column"):
        load_corpus(tmp_path / "m.csv")
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(CorpusError, match="metadata.json"):
        load_corpus(tmp_path / "metadata.json")
