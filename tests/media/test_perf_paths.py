"""The speed paths give the outputs of the plain paths: seeking sampling, threaded
inference, decoding ahead, the worker pool's split of the cores; and the
benchmark's --quick run works end to end (timings are never asserted)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pipeline.media.seek as seek
from pipeline.config import IngestOptions
from pipeline.detection.base import DetectorConfig
from pipeline.detection.centerface import CenterFaceDetector
from pipeline.errors import VideoTimeout
from pipeline.media.ffmpeg import Deadline, run_frames
from pipeline.media.index import FrameIndex, frame_index
from pipeline.media.prefetch import prefetch
from pipeline.media.probe import probe
from pipeline.media.sampling import iter_frames
from pipeline.media.seek import seek_plan
from pipeline.media.spec import SampleSpec, build_command, sum_expr
from tests.conftest import fixture, run_ffmpeg
from tests.media.test_sampling import all_pts, grid_oracle

REPO = Path(__file__).resolve().parents[2]
SPARSE_SPECS = ["fps:0.2", "fps:0.5", "uniform:16", "uniform:3", "every:40"]


def one_pass(path: Path, spec: SampleSpec) -> list[tuple[float, str]]:
    """The oracle: the single full-decode ffmpeg run (no seeking), pts and pixel hash per frame."""
    argv = build_command(path, spec, probe(path))
    with contextlib.closing(run_frames(argv, path.name, None)) as frames:
        return [(pts_s, hashlib.sha256(image.tobytes()).hexdigest()) for image, _, pts_s in frames]


def sampled(path: Path, spec: SampleSpec) -> list[tuple[float, str]]:
    return [(f.pts_s, hashlib.sha256(f.image_rgb.tobytes()).hexdigest()) for f in iter_frames(path, spec, probe(path))]


@pytest.fixture
def seek_always(monkeypatch):
    """Seeking pays from the first skipped frame: every plan seeks wherever it can."""
    monkeypatch.setattr(seek, "SEEK_START_S", 1e-9)


@pytest.fixture
def never_seek(monkeypatch):
    """Seeking never pays: one run, dropping packets wherever it can."""
    monkeypatch.setattr(seek, "SEEK_START_S", 1e9)


def _clip(out: Path, gop: int, seconds: int, extra: tuple[str, ...] = ()) -> Path:
    """hamilton looped, 320x180, 30 fps, H.264 with B-frames (x264 default), a fixed GOP."""
    run_ffmpeg(
        "-stream_loop",
        "-1",
        "-i",
        str(fixture("hamilton.mp4")),
        "-an",
        "-t",
        str(seconds),
        "-vf",
        "scale=320:180,fps=30",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "30",
        "-x264-params",
        f"keyint={gop}:min-keyint={gop}:scenecut=0",
        *extra,
        str(out),
    )
    return out


def _rotated(src: Path, out: Path) -> Path:
    """Stored sideways (GOP 15) with display rotation metadata that turns it upright."""
    sideways = out.with_name("sideways.mp4")
    run_ffmpeg("-i", str(src), "-vf", "transpose=clock", "-c:v", "libx264", "-preset", "veryfast", "-g", "15", str(sideways))
    run_ffmpeg("-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(out))
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("perf_clips")
    short = _clip(root / "short_gop.mp4", 15, 12)
    clips = {
        "short_gop": short,
        "long_gop": _clip(root / "long_gop.mp4", 120, 12),
        "mkv": _clip(root / "short_gop.mkv", 20, 12),
        "rotated": _rotated(short, root / "rotated.mp4"),
    }
    vfr = root / "vfr.mkv"  # 4 s at 30 fps, then 8 s at 10 fps
    run_ffmpeg(
        "-stream_loop",
        "-1",
        "-i",
        str(fixture("hamilton.mp4")),
        "-an",
        "-t",
        "12",
        "-vf",
        "scale=320:180,fps=30,select='lt(n,120)+gte(n,120)*not(mod(n,3))',setpts='if(lt(N,120),N/30,4+(N-120)/10)/TB'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        str(vfr),
    )
    clips["vfr"] = vfr
    return clips


@pytest.mark.parametrize("name", ["short_gop", "long_gop", "mkv", "rotated", "vfr"])
@pytest.mark.parametrize("spec_text", SPARSE_SPECS)
def test_seeking_gives_the_one_pass_frames_pixels_and_pts(clips, name, spec_text, seek_always):
    path, spec = clips[name], SampleSpec.parse(spec_text)
    info = probe(path)
    assert name != "rotated" or info.rotation_deg == 90
    plan = seek_plan(path, spec, info)
    assert plan is not None and len(plan) > 1 and plan[-1].seek_s is not None  # it really seeks
    assert sampled(path, spec) == one_pass(path, spec)


@pytest.mark.parametrize("name", ["short_gop", "long_gop", "rotated"])
@pytest.mark.parametrize("spec_text", SPARSE_SPECS + ["fps:1", "fps:3"])
def test_dropping_packets_gives_the_one_pass_frames_pixels_and_pts(clips, name, spec_text, never_seek):
    path, spec = clips[name], SampleSpec.parse(spec_text)
    plan = seek_plan(path, spec, probe(path))
    assert plan is not None and len(plan) == 1 and plan[0].seek_s is None and plan[0].drop_expr()  # one run that drops
    assert sampled(path, spec) == one_pass(path, spec)


def test_packets_are_dropped_only_before_idr_pictures_in_mp4(clips, tmp_path):
    index = frame_index(clips["short_gop"])
    assert index.dts and all(index.keyframe_idr)  # x264's closed GOPs: every keyframe an IDR
    assert not frame_index(clips["mkv"]).dts  # Matroska stores no dts: never dropped
    open_gop = _clip(tmp_path / "open_gop.mp4", 15, 6, ("-x264-params", "keyint=15:min-keyint=15:scenecut=0:open-gop=1"))
    index = frame_index(open_gop)
    assert not all(index.keyframe_idr[1:])  # recovery-point I-frames are keyframes but no IDR


def test_open_gop_is_sampled_exactly(tmp_path, seek_always):
    path = _clip(tmp_path / "open_gop.mp4", 15, 8, ("-x264-params", "keyint=15:min-keyint=15:scenecut=0:open-gop=1"))
    for spec_text in ("fps:0.5", "uniform:5"):
        spec = SampleSpec.parse(spec_text)
        assert sampled(path, spec) == one_pass(path, spec)


def test_seeking_agrees_with_an_independent_oracle(clips, seek_always):
    """The fps grid rule checked against PyAV's pts, not against ffmpeg's own select."""
    for name in ("short_gop", "vfr"):
        got = [pts for pts, _ in sampled(clips[name], SampleSpec.parse("fps:0.5"))]
        assert got == pytest.approx(grid_oracle(all_pts(clips[name]), 0.5), abs=1e-4)


def test_max_frames_bounds_a_seeking_plan(clips, seek_always):
    spec = SampleSpec.parse("uniform:16", max_frames=5)
    got = sampled(clips["short_gop"], spec)
    assert len(got) == 5 and got == one_pass(clips["short_gop"], spec)


def test_plain_one_pass_where_seeking_cannot_pay_or_cannot_be_planned(clips, tmp_path, seek_always):
    short = clips["short_gop"]
    info = probe(short)
    assert seek_plan(short, SampleSpec.parse("keyframes"), info) is None
    assert seek_plan(short, SampleSpec.parse("fps:0.2", start_s=2.0), info) is None
    assert seek_plan(short, SampleSpec.parse("fps:0.2", end_s=8.0), info) is None
    still = fixture("two_people.jpg")
    assert seek_plan(still, SampleSpec.parse("fps:1"), probe(still)) is None
    ts = tmp_path / "clip.ts"
    run_ffmpeg("-i", str(short), "-c", "copy", str(ts))
    assert frame_index(ts) is None  # MPEG-TS packets are not trusted for seeking
    assert seek_plan(ts, SampleSpec.parse("fps:0.2"), probe(ts)) is None


def test_at_the_real_costs_dense_sampling_never_seeks(clips):
    """Frames 1 s apart on a 0.5 s GOP at 320x180: a new run would cost more than it
    skips. In MP4 the packets between are dropped in the one run; in Matroska
    (no dts) the one run drops only the non-reference pictures, by pts."""
    fps1 = SampleSpec.parse("fps:1")
    plan = seek_plan(clips["short_gop"], fps1, probe(clips["short_gop"]))
    assert len(plan) == 1 and plan[0].seek_s is None and plan[0].drop_expr()
    (mkv,) = seek_plan(clips["mkv"], fps1, probe(clips["mkv"]))
    assert mkv.seek_s is None and not mkv.drop_dts and mkv.skip and mkv.skip_by == "pts"
    hamilton = fixture("hamilton.mp4")
    assert all(seg.seek_s is None for seg in seek_plan(hamilton, fps1, probe(hamilton)) or ())


def test_long_sums_nest(clips):
    """ffmpeg refuses a flat sum of more than 100 terms: 150 samples in one run, and
    in the one pass's uniform rule."""
    assert sum_expr([str(i) for i in range(3)]) == "0+1+2"
    path = clips["long_gop"]
    index = frame_index(path)
    segment = seek.Segment(None, index.pts[:300:2])
    with contextlib.closing(seek._segment_frames(path, segment, None)) as frames:
        got = [(pts_s, hashlib.sha256(image.tobytes()).hexdigest()) for image, pts_s in frames]
    assert got == one_pass(path, SampleSpec.parse("every:2", max_frames=150))
    spec = SampleSpec.parse("uniform:150")
    assert len(one_pass(path, spec)) > 100


def test_frame_index_matches_the_decoded_frames(clips):
    for name in ("short_gop", "long_gop", "mkv", "vfr"):
        index = frame_index(clips[name])
        assert [index.seconds(p) for p in index.pts] == pytest.approx(all_pts(clips[name]), abs=1e-6)
        assert index.keyframe_positions[0] == 0
    hamilton = frame_index(fixture("hamilton.mp4"))
    assert hamilton.seconds(hamilton.pts[0]) == pytest.approx(0.852, abs=1e-3)


def _shifted(index: FrameIndex, from_position: int) -> FrameIndex:
    """An index that lies from ``from_position`` on (its pts one tick late)."""
    pts = tuple(p + (1 if i >= from_position else 0) for i, p in enumerate(index.pts))
    return FrameIndex(index.time_base, index.start_time_s, pts, index.keyframe_positions, index.keyframe_dts)


@pytest.mark.parametrize("lie_from", [0, 200])
def test_a_wrong_index_falls_back_to_the_one_pass(clips, monkeypatch, seek_always, lie_from):
    path, spec = clips["short_gop"], SampleSpec.parse("fps:0.5")
    true_index = frame_index(path)
    monkeypatch.setattr(seek, "frame_index", lambda p, deadline=None: _shifted(true_index, lie_from))
    assert seek_plan(path, spec, probe(path)) is not None
    assert sampled(path, spec) == one_pass(path, spec)


def test_seeking_honours_the_deadline(clips, seek_always):
    path = clips["long_gop"]
    with pytest.raises(VideoTimeout):
        for _ in iter_frames(path, SampleSpec.parse("uniform:16"), probe(path), Deadline.after(0.0)):
            pass


def test_a_pending_deadline_charges_nothing_until_it_starts(clips):
    """A video opened ahead waits for its turn with its decoder started: that wait is not its time."""
    path = clips["long_gop"]
    deadline = Deadline.pending(0.5)
    frames = iter_frames(path, SampleSpec.parse("every:1"), probe(path), deadline)
    first = next(frames)
    time.sleep(1.0)  # twice its budget, waiting for its turn
    assert len([first, *itertools.islice(frames, 5)]) == 6  # nothing was killed
    deadline.start()
    with pytest.raises(VideoTimeout, match="after the 0.5 s timeout"):
        for _ in frames:  # 360 frames at 0.05 s each: the budget runs out on the way
            time.sleep(0.05)


def test_a_pending_deadline_keeps_the_time_charged_to_it_and_expires_on_demand(clips):
    deadline = Deadline.pending(2.0)
    deadline.charge(0.5)  # the probe of a video opened ahead
    assert deadline.remaining_s() == 1.5 and not deadline.started
    deadline.start()
    assert 1.0 < deadline.remaining_s() <= 1.5
    deadline.charge(1.0)  # started: nothing more is charged
    assert deadline.remaining_s() > 1.0
    path = clips["long_gop"]
    unread = Deadline.pending(600.0)
    frames = iter_frames(path, SampleSpec.parse("every:1"), probe(path), unread)
    next(frames)
    unread.expire()  # closed before its turn: ffmpeg is killed, not left waiting
    with pytest.raises(VideoTimeout):
        for _ in frames:
            pass


def test_prefetch_keeps_order_and_hands_errors_on(clips):
    path, spec = clips["short_gop"], SampleSpec.parse("fps:2")
    plain = [f.pts_s for f in iter_frames(path, spec, probe(path))]
    assert [f.pts_s for f in prefetch(iter_frames(path, spec, probe(path)), 2)] == plain

    def failing():
        yield from iter_frames(path, spec, probe(path))
        raise RuntimeError("decoder broke")

    seen = []
    with pytest.raises(RuntimeError, match="decoder broke"):
        for frame in prefetch(failing(), 2):
            seen.append(frame.pts_s)
    assert seen == plain


def test_closing_a_prefetch_early_stops_ffmpeg(clips):
    path = clips["long_gop"]
    frames = prefetch(iter_frames(path, SampleSpec.parse("every:1"), probe(path)), 2)
    next(frames)
    frames.close()
    children = Path(f"/proc/{os.getpid()}/task")
    alive = [c for t in children.glob("*/children") for c in t.read_text().split()]
    names = [Path(f"/proc/{c}/comm").read_text().strip() for c in alive if Path(f"/proc/{c}/comm").exists()]
    assert not [n for n in names if n.startswith("ffmpeg")]


def _frames(path: Path, spec: str) -> list[np.ndarray]:
    return [f.image_rgb for f in iter_frames(path, SampleSpec.parse(spec), probe(path))]


def test_thread_count_does_not_change_detections():
    images = _frames(fixture("hamilton.mp4"), "uniform:4")
    one = CenterFaceDetector(DetectorConfig(threads=1))
    two = CenterFaceDetector(DetectorConfig(threads=2))
    assert [one.detect(i) for i in images] == [two.detect(i) for i in images]


def test_cuda_is_opt_in(monkeypatch):
    from pipeline.detection import centerface

    monkeypatch.delenv(centerface.DEVICE_ENV, raising=False)
    assert centerface.providers() == [centerface.CPU_PROVIDER]
    monkeypatch.setenv(centerface.DEVICE_ENV, "auto")
    assert centerface.providers()[-1] == centerface.CPU_PROVIDER
    monkeypatch.setenv(centerface.DEVICE_ENV, "tpu")
    with pytest.raises(ValueError):
        centerface.providers()


def test_the_pool_never_has_more_workers_than_videos():
    cores = os.cpu_count() or 1
    settings = IngestOptions(workers=2)
    assert settings.pool_for(1) == (1, cores)
    assert settings.pool_for(10) == (2, max(1, cores // 2))
    assert IngestOptions(workers=1).pool_for(5) == (1, cores)
    # a Dask worker's share of the cores (issue 20): 8 of 16 -> 8 videos x 1 thread, not 16
    assert IngestOptions().pool_for(64, cores=8) == (8, 1)
    assert IngestOptions().pool_for(2, cores=8) == (2, 4)
    assert IngestOptions().pool_for(1, cores=1) == (1, 1)


def test_the_benchmark_quick_run_works_end_to_end(tmp_path):
    """CI runs this so the benchmark cannot rot; the figures are not checked."""
    report = tmp_path / "report.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--out", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = report.read_text()
    for heading in ("## Machine", "### 1.", "### 2.", "### 3.", "### 4.", "### 5.", "### 6.", "### Targets"):
        assert heading in text
    assert "decode-only" in text and "naive" in text and "rerun / first run" in text


def test_the_per_frame_benchmark_quick_run_works_end_to_end(tmp_path):
    """bench/per_frame.py (issue 17) on 4 s 360p clips: every measurement runs, every table is filled."""
    report = tmp_path / "per_frame.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "per_frame.py"), "--quick", "--out", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = report.read_text()
    for clip in ("h264_gop1s", "h264_gop10s", "hevc_gop10s"):
        assert text.count(f"| {clip} |") == 2  # a row in the decoding table and one in the breakdown
    assert "## Targets (issue 17)" in text and text.count("x | reported |") == 3
