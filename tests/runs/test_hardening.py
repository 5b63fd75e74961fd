"""Hardening units: file identity around decoding, the probe deadline, the dataset lock,
publishing tables as a unit, the validation report removed first, model pins."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

import pytest

from pipeline.config import ExtractOptions
from pipeline.corpus.load import load_corpus
from pipeline.corpus.snapshot import snapshot
from pipeline.detection.pins import UnknownModelError, check_model
from pipeline.errors import MediaError, OutputError, TornDatasetError, VideoTimeout
from pipeline.fsutil import COMMIT_FILE, atomic_write_bytes, check_published, publish_tables
from pipeline.media.ffmpeg import Deadline
from pipeline.media.isolate import probe_within
from pipeline.media.probe import plausible, probe
from pipeline.runs.lock import DatasetLocked, dataset_lock
from pipeline.stages.video import VideoPass
from tests.conftest import fixture
from tests.lockholder import held, hold


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(fixture("obama_portrait.jpg"), root / "a.jpg")
    shutil.copy(fixture("two_people.jpg"), root / "b.jpg")
    return root


def _pass(tmp_path, root) -> VideoPass:
    return VideoPass.build(ExtractOptions(corpus=str(root), out=str(tmp_path / "out")), timeout_s=30)


@pytest.mark.parametrize("change", ["delete", "replace", "append"])
def test_a_file_changed_after_hashing_fails_and_stores_nothing(tmp_path, corpus, change):
    inputs = snapshot(load_corpus(corpus))
    target = corpus / "a.jpg"
    if change == "delete":
        target.unlink()
    elif change == "replace":
        shutil.copy(fixture("alex_lacamoire.png"), corpus / "tmp")
        (corpus / "tmp").replace(target)
    else:
        with open(target, "ab") as fh:
            fh.write(b"\0")
    job = _pass(tmp_path, corpus)
    outcome = job.run_one(inputs[0])
    assert not outcome.ok and "a.jpg: " in outcome.detect.error and "after it was hashed" in outcome.detect.error
    assert outcome.detect.error_kind == "transient"  # retry-failed reruns it once the file is stable
    assert outcome.detections.num_rows == 0
    assert job.run_one(inputs[1]).ok  # the other input goes on


def test_probe_runs_under_the_deadline():
    with pytest.raises(VideoTimeout, match="hamilton.mp4: still probing after the 0.001 s timeout"):
        probe_within(fixture("hamilton.mp4"), Deadline.after(0.001))
    assert probe_within(fixture("hamilton.mp4"), Deadline.after(30)) == probe(fixture("hamilton.mp4"))


def test_metadata_contract():
    assert plausible(4.0, 25.0, 100) and plausible(4.0, 25.0, 102)
    assert not plausible(95356.0, 29.97, 120) and not plausible(4.0, 0.0, 100) and not plausible(-1.0, 25.0, 0)


def test_pixel_limit_is_a_parameter():
    with pytest.raises(MediaError, match=r"two_people.jpg: picture too large .*1126x661"):
        probe(fixture("two_people.jpg"), max_pixels=100_000)
    assert probe(fixture("two_people.jpg"), max_pixels=1126 * 661).width_px == 1126
    with pytest.raises(MediaError, match=r"hamilton.mp4: picture too large \(640x360 = 230,400 pixels; limit 1,000 pixels"):
        probe(fixture("hamilton.mp4"), max_pixels=1000)


def test_second_run_refuses_naming_the_holder(tmp_path):
    with held(tmp_path) as holder:
        with pytest.raises(DatasetLocked, match=rf"another run holds this dataset's lock \(pid {holder.pid} on "):
            with dataset_lock(tmp_path, wait_s=0.2):
                pass
    with dataset_lock(tmp_path, wait_s=5):  # released: the next run takes it
        pass


def test_a_killed_holder_releases_the_lock(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    started = time.monotonic()
    with dataset_lock(tmp_path, wait_s=5):
        assert time.monotonic() - started < 5


def test_tables_publish_as_a_unit_and_readers_check(tmp_path):
    publish_tables(tmp_path, {"videos.parquet": b"v1", "faces.parquet": b"f1"})
    check_published(tmp_path, ["videos.parquet", "faces.parquet"])
    publish_tables(tmp_path, {"embeddings.parquet": b"e1"})  # another step's table keeps the others
    assert set(json.loads((tmp_path / COMMIT_FILE).read_text())["tables"]) == {"videos.parquet", "faces.parquet", "embeddings.parquet"}
    (tmp_path / "videos.parquet").write_bytes(b"v2")  # a publish killed after its first table
    with pytest.raises(TornDatasetError, match=r"videos.parquet: does not match manifests.json"):
        check_published(tmp_path, ["videos.parquet", "faces.parquet"])
    body = json.loads((tmp_path / COMMIT_FILE).read_text()) | {"pending": ["faces.parquet"]}
    (tmp_path / COMMIT_FILE).write_text(json.dumps(body))
    with pytest.raises(TornDatasetError, match=r"faces.parquet: a publish was interrupted"):
        check_published(tmp_path, ["faces.parquet"])
    publish_tables(tmp_path, {"pairs.parquet": b"p1"})  # another step's publish does not clear it
    with pytest.raises(TornDatasetError, match=r"faces.parquet: a publish was interrupted"):
        check_published(tmp_path, ["faces.parquet"])
    publish_tables(tmp_path, {"videos.parquet": b"v3", "faces.parquet": b"f3"})  # the rerun does
    check_published(tmp_path, ["videos.parquet", "faces.parquet", "pairs.parquet", "embeddings.parquet"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; CI runs as a user")
def test_read_only_output_is_one_line_naming_the_path(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o555)
    try:
        with pytest.raises(OutputError) as info:
            atomic_write_bytes(target / "videos.parquet", b"x")
        assert info.value.strerror.startswith(f"{target / 'videos.parquet'}: cannot write (") and "\n" not in info.value.strerror
    finally:
        target.chmod(0o755)


def test_a_write_that_runs_out_of_space_is_one_line_naming_the_path(tmp_path):
    """A full disk, stood in for by a file-size limit in a child process (the write fails
    as it would on ENOSPC: mid-write, after the temp file exists)."""
    code = (
        "import resource, signal, sys; from pathlib import Path\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "from pipeline.fsutil import atomic_write_bytes\n"
        "from pipeline.errors import OutputError\n"
        "try:\n    atomic_write_bytes(Path(sys.argv[1]), b'x' * 100000)\n"
        "except OutputError as exc:\n    print(exc.strerror)\n"
    )
    target = tmp_path / "faces.parquet"
    done = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip().startswith(f"{target}: cannot write (") and len(done.stdout.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no temp file left, no torn file


def test_unknown_model_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "centerface.onnx"
    with pytest.raises(UnknownModelError, match=r"centerface.onnx: sha256 0+ is not a pinned model.*--allow-unknown-model"):
        check_model(path, "0" * 64, allow_unknown=False)
    assert check_model(path, "0" * 64, allow_unknown=True) is False


def test_bad_csv_and_parquet_rows_name_their_row(tmp_path):
    import polars as pl

    shutil.copy(fixture("obama_portrait.jpg"), tmp_path / "a.jpg")
    (tmp_path / "m.csv").write_text("uri,label\na.jpg,real\n,fake\n")
    entries = {e.uri: e.problem for e in load_corpus(tmp_path / "m.csv").entries}
    assert entries == {"a.jpg": None, "m.csv#row=2": "m.csv row 2: empty uri"}
    pl.DataFrame({"uri": ["a.jpg", None]}).write_parquet(tmp_path / "m.parquet")
    entries = {e.uri: e.problem for e in load_corpus(tmp_path / "m.parquet").entries}
    assert entries == {"a.jpg": None, "m.parquet#row=2": "m.parquet row 2: empty uri"}


def test_an_output_that_cannot_be_made_is_one_line_naming_it(tmp_path):
    """--out under a regular file (no folder can be made there, even as root): exit 1, one line."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(fixture("obama_portrait.jpg"), tmp_path / "corpus" / "a.jpg")
    (tmp_path / "file").write_bytes(b"x")
    out = tmp_path / "file" / "dataset"
    argv = [sys.executable, "-m", "flows.cli", "extract", str(tmp_path / "corpus"), "--out", str(out), "--no-progress"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == f"facecorpus: error: {out}: Not a directory"
