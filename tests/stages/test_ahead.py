"""Opening the next video ahead (``pipeline/stages/ahead.py``): the same results as one video at a time,
the next video probed and decoding while the current one is worked on, its error and its deadline its
own, and no ffmpeg left running after a run, also when a video opened ahead needed no decoding.

The corpus: three cuts of hamilton.mp4, a still, a picture with no face and a file that is not a video,
in an order that puts the bad file between good ones. The real detector and ffmpeg run.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.runs.extract import run_extract
from pipeline.stages.ahead import OpenAhead
from pipeline.stages.align import AlignStage
from pipeline.stages.base import Stage
from pipeline.stages.detect import DetectStage
from pipeline.stages.video import VideoPass
from tests.conftest import extract_options, fixture, run_ffmpeg

ENCODE = ("-an", "-vf", "scale=480:-2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20")
MANIFESTS = ("videos.parquet", "faces.parquet")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ahead") / "corpus"
    root.mkdir()
    source = str(fixture("hamilton.mp4"))
    for name, start in (("a.mp4", "0"), ("c.mp4", "8"), ("d.mp4", "4")):
        run_ffmpeg("-ss", start, "-t", "2", "-i", source, *ENCODE, str(root / name))
    (root / "b.mp4").write_bytes(b"not a video, " * 500)
    (root / "e.jpg").write_bytes(fixture("two_people.jpg").read_bytes())
    run_ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", str(root / "f.png"))  # no face
    return root


def _ffmpeg_children() -> list[str]:
    tasks = Path(f"/proc/{os.getpid()}/task")
    alive = [c for t in tasks.glob("*/children") for c in t.read_text().split()]
    names = [Path(f"/proc/{c}/comm").read_text().strip() for c in alive if Path(f"/proc/{c}/comm").exists()]
    return [n for n in names if n.startswith("ffmpeg")]


def _same_tables(out: Path, oracle: Path) -> None:
    for name in MANIFESTS:
        assert_frame_equal(pl.read_parquet(out / name), pl.read_parquet(oracle / name))


def _crops(out: Path) -> dict[str, bytes]:
    """The crops the faces table names, by path."""
    paths = pl.read_parquet(out / "faces.parquet")["crop_path"].drop_nulls().to_list()
    assert paths
    return {path: (out / path).read_bytes() for path in sorted(paths)}


@pytest.fixture(scope="module")
def one_at_a_time(corpus, tmp_path_factory) -> Path:
    """The oracle: the base stage's run, which opens nothing ahead."""
    out = tmp_path_factory.mktemp("oracle") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(VideoPass, "run", Stage.run)
        run_extract(extract_options(corpus, out, sample="fps:2"))
    return out


def test_opening_ahead_gives_the_one_at_a_time_results(corpus, one_at_a_time, tmp_path, monkeypatch):
    events: list[tuple[str, str, str, float]] = []
    real_open, real_process, real_request = VideoPass._open, VideoPass.process, OpenAhead.open

    def requesting(self, item):
        events.append(("request", Path(item.entry.uri).name, "", time.monotonic()))
        return real_request(self, item)

    def opening(self, item, deadline):
        events.append(("open", Path(item.entry.uri).name, threading.current_thread().name, time.monotonic()))
        return real_open(self, item, deadline)

    def processing(self, item):
        events.append(("start", Path(item.entry.uri).name, "", time.monotonic()))
        try:
            return real_process(self, item)
        finally:
            events.append(("end", Path(item.entry.uri).name, "", time.monotonic()))

    monkeypatch.setattr(VideoPass, "_open", opening)
    monkeypatch.setattr(VideoPass, "process", processing)
    monkeypatch.setattr(OpenAhead, "open", requesting)
    out = tmp_path / "out"
    summary = run_extract(extract_options(corpus, out, sample="fps:2"))

    _same_tables(out, one_at_a_time)
    assert _crops(out) == _crops(one_at_a_time)
    assert summary.videos_failed == 1
    videos = pl.read_parquet(out / "videos.parquet")
    bad = videos.filter(pl.col("uri").str.ends_with("b.mp4")).row(0, named=True)
    assert bad["status"] == "failed" and "b.mp4" in bad["error"]  # the error of the file opened ahead is its own
    assert videos.filter(pl.col("uri").str.ends_with("b.mp4").not_())["status"].to_list() == ["ok"] * 5
    # Every video after the first was opened on the opening thread, asked for while the one before it was
    # worked on (the bad file too: it failed when its turn came, having been opened ahead).
    processed = [name for kind, name, _, _ in events if kind == "start"]
    assert len(processed) == 6
    for before, name in zip(processed, processed[1:]):
        threads = [thread for kind, n, thread, _ in events if kind == "open" and n == name]
        asked = [at for kind, n, _, at in events if kind == "request" and n == name]
        ended = next(at for kind, n, _, at in events if kind == "end" and n == before)
        assert len(threads) == 1 and threads[0].startswith("open-ahead"), name
        assert len(asked) == 1 and asked[0] < ended, name
    assert _ffmpeg_children() == []


def test_waiting_for_its_turn_is_not_charged_to_a_video_opened_ahead(corpus, tmp_path, monkeypatch):
    """The first video's crops are saved after a wait longer than the timeout; the second one, opened
    ahead with its ffmpeg started, still has its whole budget when its turn comes."""
    real_save = AlignStage.save_crops
    slowed: list[str] = []

    def slow_save(self, video_id, crops):
        if not slowed:
            slowed.append(video_id)
            time.sleep(4.0)
        return real_save(self, video_id, crops)

    monkeypatch.setattr(AlignStage, "save_crops", slow_save)
    names = ("a.mp4", "c.mp4")
    two = tmp_path / "two"
    two.mkdir()
    for name in names:
        (two / name).write_bytes((corpus / name).read_bytes())
    summary = run_extract(extract_options(two, tmp_path / "out", sample="fps:2"), timeout_s=3.0)
    assert slowed and summary.videos_failed == 0, summary.failures
    assert summary.videos_ok == 2


def test_a_video_opened_ahead_still_times_out_at_its_turn(corpus, tmp_path, monkeypatch):
    """Its clock starts when its turn comes: a second video whose detection is slowed past the timeout
    (ffmpeg still running, waiting for the frames to be taken) is killed and recorded as a timeout."""
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.mp4").write_bytes((corpus / "a.mp4").read_bytes())
    run_ffmpeg("-ss", "0", "-t", "6", "-i", str(fixture("hamilton.mp4")), *ENCODE, str(two / "b.mp4"))
    real_detect = DetectStage.process
    names: list[str] = []

    def slow_for_b(self, item):
        if names and item.video_id == names[0]:
            time.sleep(1.0)
        return real_detect(self, item)

    real_process = VideoPass.process

    def processing(self, item):
        if item.entry.uri.endswith("b.mp4"):
            names.append(item.video_id)
            assert self._ahead is not None and item.video_id in self._ahead._opened  # opened ahead
        return real_process(self, item)

    monkeypatch.setattr(DetectStage, "process", slow_for_b)
    monkeypatch.setattr(VideoPass, "process", processing)
    summary = run_extract(extract_options(two, tmp_path / "out", sample="fps:2"), timeout_s=3.0)
    videos = pl.read_parquet(tmp_path / "out" / "videos.parquet").sort("uri")
    assert videos["status"].to_list() == ["ok", "failed"], summary.failures
    assert videos["error_kind"][1] == "timeout" and "b.mp4" in videos["error"][1]
    assert _ffmpeg_children() == []


def test_a_video_opened_ahead_that_needs_no_decoding_is_closed(corpus, one_at_a_time, tmp_path, monkeypatch):
    """After the crop size changes, a picture with no face has nothing to align: it was opened ahead
    (its stored work looked unfinished) and is closed unread; the results are the oracle's."""
    out, oracle = tmp_path / "out", tmp_path / "oracle"
    for folder in (out, oracle):  # a first run each: the oracle's, copied
        shutil.copytree(one_at_a_time, folder)
    discarded: list[str] = []
    real_open_next, real_process = VideoPass._open_next, VideoPass.process

    def watching(self):
        real_open_next(self)
        if self._upcoming is not None and self._ahead is not None and self._upcoming.video_id in self._ahead._opened:
            discarded.append(Path(self._upcoming.entry.uri).name)

    checked: list[str] = []

    def processing(self, item):
        outcome = real_process(self, item)
        if self._ahead is not None:  # the run that opens ahead (not the oracle's)
            assert item.video_id not in self._ahead._opened  # closed at its turn, not left to the run's end
            checked.append(Path(item.entry.uri).name)
        return outcome

    monkeypatch.setattr(VideoPass, "_open_next", watching)
    monkeypatch.setattr(VideoPass, "process", processing)
    run_extract(extract_options(corpus, out, sample="fps:2", size=128))
    assert "f.png" in discarded and "f.png" in checked  # opened ahead although it needed no decoding
    assert _ffmpeg_children() == []
    with monkeypatch.context() as mp:  # the same rerun, one video at a time (identities carry over a rerun)
        mp.setattr(VideoPass, "run", Stage.run)
        run_extract(extract_options(corpus, oracle, sample="fps:2", size=128))
    _same_tables(out, oracle)
    assert _crops(out) == _crops(oracle)
