"""forget and gc hold the dataset's lock (pipeline/runs/lock.py), as extract, curate and
ingest do: while another process holds it they refuse, naming it, and touch nothing;
the lock is reentrant within a thread (forget holds it and reruns curation, which takes it)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.config import Options
from pipeline.privacy.forget import forget
from pipeline.privacy.gc import collect
from pipeline.privacy.select import Target
from pipeline.runs.lock import HOLDER_NAME, DatasetLocked, dataset_lock
from tests.conftest import fixture
from tests.lockholder import held


def _options(out: Path) -> Options:
    options = Options()
    return replace(
        options,
        extract=replace(options.extract, out=str(out)),
        policy=replace(options.policy, erasures=str(out.parent / "erasures.parquet")),
    )


def test_forget_and_gc_refuse_while_another_process_holds_the_dataset(tmp_path):
    out = tmp_path / "dataset"
    orphan = out / "crops" / "orphan.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"kept while locked")
    with held(out) as holder:
        named = rf"another run holds this dataset's lock \(pid {holder.pid} on "
        with pytest.raises(DatasetLocked, match=named):
            collect(_options(out))
        with pytest.raises(DatasetLocked, match=named):
            forget(_options(out), Target("video", "v" * 16), "a request")
        assert orphan.read_bytes() == b"kept while locked"
        assert not (tmp_path / "erasures.parquet").exists()  # nothing recorded either


def test_the_lock_is_reentrant_in_a_thread_and_keeps_the_outer_holder(tmp_path):
    with dataset_lock(tmp_path):
        outer = json.loads((tmp_path / HOLDER_NAME).read_text())
        with dataset_lock(tmp_path, wait_s=0):
            assert json.loads((tmp_path / HOLDER_NAME).read_text()) == outer
        assert json.loads((tmp_path / HOLDER_NAME).read_text()) == outer  # the inner exit left it
    assert not (tmp_path / HOLDER_NAME).exists()


def test_a_separate_detect_folder_is_locked_by_every_run_that_writes_it(tmp_path):
    """With extract.detect_root apart from the dataset, a process holding the detect folder (a DVC
    detect stage, say) keeps out extract with alignment, curate, forget and gc, which all write or
    read detect work: each refuses naming it, and the dataset folder is left free again."""
    from pipeline.runs.extract import run_curate, run_extract

    out, detect = tmp_path / "dataset", tmp_path / "detect"
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "two_people.jpg").write_bytes(fixture("two_people.jpg").read_bytes())
    options = _options(out)
    options = replace(options, extract=replace(options.extract, corpus=str(tmp_path / "corpus"), detect_root=str(detect)))
    with held(detect) as holder:
        named = rf"{detect}: another run holds this dataset's lock \(pid {holder.pid} on "
        for attempt in (
            lambda: run_extract(options.extract, options.curate),
            lambda: run_curate(options.extract, options.curate),
            lambda: forget(options, Target("video", "v" * 16), "a request"),
            lambda: collect(options),
        ):
            with pytest.raises(DatasetLocked, match=named):
                attempt()
        assert not (out / "faces.parquet").exists() and not (detect / "work").exists()
        with dataset_lock(out, wait_s=0):  # each refusal let go of the dataset folder it took first
            pass
    assert run_extract(options.extract, options.curate).faces == 2  # released: the run goes ahead
    assert (detect / "work").is_dir()
