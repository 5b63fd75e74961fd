"""The packet index's non-reference pictures, and dropping them before the decoder.

The oracle for which pictures are non-reference is libavcodec's own decoder: the
pictures it leaves out when told to skip non-reference frames (PyAV,
``skip_frame = NONREF``). The oracle for the sampled frames is the single full
ffmpeg pass, as for the rest of the packet plan (``test_perf_paths.py``)."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import av
import pytest

import pipeline.media.seek as seek
from pipeline.media.index import frame_index
from pipeline.media.probe import probe
from pipeline.media.seek import seek_plan
from pipeline.media.spec import SampleSpec
from tests.conftest import fixture, run_ffmpeg
from tests.media.test_perf_paths import one_pass, sampled

# Each clip: hamilton looped, 6 s, 320x180 at 30 fps, B-frames, one encoder setting.
ENCODINGS = {
    "h264_pyramid.mp4": ("-c:v", "libx264", "-x264-params", "keyint=90:min-keyint=90:scenecut=0:bframes=3:b-pyramid=normal"),
    "h264_open_gop.mp4": ("-c:v", "libx264", "-x264-params", "keyint=45:min-keyint=45:scenecut=0:open-gop=1:b-pyramid=strict"),
    "h264_pyramid.mkv": ("-c:v", "libx264", "-x264-params", "keyint=90:min-keyint=90:scenecut=0:bframes=5:b-pyramid=normal"),
    "hevc_open_gop.mp4": ("-c:v", "libx265", "-x265-params", "keyint=90:min-keyint=90:scenecut=0:log-level=error"),
    "hevc_closed_gop.mp4": ("-c:v", "libx265", "-x265-params", "keyint=45:min-keyint=45:scenecut=0:open-gop=0:log-level=error"),
    "hevc.mkv": ("-c:v", "libx265", "-x265-params", "keyint=90:min-keyint=90:scenecut=0:bframes=6:log-level=error"),
    "hevc_sublayers.mp4": ("-c:v", "libx265", "-x265-params", "keyint=90:min-keyint=90:scenecut=0:temporal-layers=3:log-level=error"),
}
SPECS = ["fps:1", "fps:4", "every:7", "uniform:9"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nonref_clips")
    out = {}
    for name, codec in ENCODINGS.items():
        out[name] = root / name
        source = ("-stream_loop", "-1", "-i", str(fixture("hamilton.mp4")), "-an", "-t", "6", "-vf", "scale=320:180,fps=30")
        run_ffmpeg(*source, *codec, "-preset", "veryfast", "-crf", "30", str(out[name]))
    return out


@pytest.fixture
def no_fallback(monkeypatch):
    """A plan that disagreed with ffmpeg would fall back to the one pass and hide the fault."""

    def refuse(*args, **kwargs):
        raise AssertionError("the plan's frames disagreed with the plan: it fell back to the one pass")

    monkeypatch.setattr(seek, "_resume_full_pass", refuse)


def decoder_nonref_pts(path: Path) -> set[int]:
    """The pts of the pictures libavcodec skips when told to skip non-reference frames."""
    with av.open(str(path)) as container:
        every = {p.pts for p in container.demux(container.streams.video[0]) if p.size}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        decoded = {frame.pts for frame in container.decode(stream)}
    return every - decoded


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_nonref_pictures_are_those_the_decoder_can_skip(clips, name):
    index = frame_index(clips[name])
    ours = {pts for pts, nonref in zip(index.pts, index.nonref, strict=True) if nonref}
    theirs = decoder_nonref_pts(clips[name])
    assert ours, "B-frame encodings hold non-reference pictures"
    if name == "hevc_sublayers.mp4":
        # libavcodec skips every sub-layer non-reference picture; those below the top
        # sub-layer are references of the sub-layers above, and are kept here.
        assert ours < theirs
    else:
        assert ours == theirs


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("spec_text", SPECS)
def test_dropping_nonref_pictures_gives_the_one_pass_frames_pixels_and_pts(clips, name, spec_text, no_fallback):
    path, spec = clips[name], SampleSpec.parse(spec_text)
    plan = seek_plan(path, spec, probe(path))
    assert plan is not None and any(segment.skip for segment in plan)
    assert sampled(path, spec) == one_pass(path, spec)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_picture_left_decodes_as_in_the_one_pass(clips, name):
    """All non-reference pictures dropped, all others output: none of them changes, and
    the dropped ones are really not decoded (the run outputs exactly the others)."""
    path = clips[name]
    index = frame_index(path)
    kept = tuple(pts for pts, nonref in zip(index.pts, index.nonref, strict=True) if not nonref)
    dropped = tuple(index.drop_key(p) for p, nonref in enumerate(index.nonref) if nonref)
    segment = seek.Segment(None, kept, skip=dropped, skip_by=index.drop_variable)
    with contextlib.closing(seek._segment_frames(path, segment, None)) as frames:
        got = [(pts_s, hashlib.sha256(image.tobytes()).hexdigest()) for image, pts_s in frames]
    every = dict(one_pass(path, SampleSpec.parse("every:1")))
    assert len(got) == len(kept) < len(index.pts)
    assert got == [(pts_s, every[pts_s]) for pts_s, _ in got]


def test_a_long_plan_splits_its_drops_into_runs(clips, monkeypatch, no_fallback):
    monkeypatch.setattr(seek, "MAX_SKIPS_PER_RUN", 12)
    path, spec = clips["h264_open_gop.mp4"], SampleSpec.parse("fps:4")
    plan = seek_plan(path, spec, probe(path))
    assert len(plan) > 1 and all(0 < len(segment.skip) <= 12 for segment in plan)
    assert sampled(path, spec) == one_pass(path, spec)


def test_membership_expression_is_a_balanced_tree():
    """A packet's test walks one branch: about log2(n / 8) ``if``s deep, not n terms."""
    values = list(range(0, 4000, 3))
    expr = seek.member_expr("dts", values)
    depth = deepest = 0
    for ch in expr:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    assert depth == 0 and deepest <= 2 * (len(values) // 8).bit_length() + 2
    assert expr.count("eq(dts,") == len(values) and len(expr) < 20 * len(values)
    assert seek.member_expr("pts", [5, 9]) == "eq(pts,5)+eq(pts,9)"


def test_hevc_idr_pictures_allow_dropping_whole_gops(clips, monkeypatch, no_fallback):
    """x265's closed GOPs start with IDR pictures (NAL types 19/20): the packets before one are
    dropped as for H.264; its open GOPs start with CRA pictures, which are keyframes but no IDR."""
    monkeypatch.setattr(seek, "SEEK_START_S", 1e9)  # never seek: one run that drops
    closed = frame_index(clips["hevc_closed_gop.mp4"])
    assert closed.dts and all(closed.keyframe_idr)
    assert not any(frame_index(clips["hevc_open_gop.mp4"]).keyframe_idr[1:])
    path, spec = clips["hevc_closed_gop.mp4"], SampleSpec.parse("fps:0.5")
    (run,) = seek_plan(path, spec, probe(path))
    assert run.drop_dts and run.seek_s is None
    assert sampled(path, spec) == one_pass(path, spec)


@pytest.mark.parametrize("name", ["h264_pyramid.mkv", "hevc.mkv", "hevc_open_gop.mp4", "h264_pyramid.mp4"])
def test_seeking_runs_drop_nonref_pictures_too(clips, name, monkeypatch, no_fallback):
    """Every run seeks where it can (ffmpeg's -ss), and still drops by the stored timestamps."""
    monkeypatch.setattr(seek, "SEEK_START_S", 1e-9)
    path, spec = clips[name], SampleSpec.parse("fps:0.5")
    plan = seek_plan(path, spec, probe(path))
    assert len(plan) > 1 and plan[-1].seek_s is not None and plan[-1].skip
    assert sampled(path, spec) == one_pass(path, spec)
