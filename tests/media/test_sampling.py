"""Sampling against an independent oracle: every frame's pts decoded with PyAV."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.media.probe import probe
from pipeline.media.sampling import iter_frames
from pipeline.media.spec import SampleSpec
from tests.conftest import HAMILTON_FIRST_PTS_S, fixture, make_rotated_copy, run_ffmpeg


def all_pts(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return sorted(float(f.time) for f in container.decode(video=0))


def keyframe_pts(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        return sorted(float(f.time) for f in container.decode(stream))


def sampled(path: Path, spec: str, **kwargs) -> list[float]:
    return [f.pts_s for f in iter_frames(path, SampleSpec.parse(spec, **kwargs), probe(path))]


def grid_oracle(pts: list[float], rate: float) -> list[float]:
    """First frame at or after each 1/rate step from the first frame."""
    t0, chosen = pts[0], []
    for t in pts:
        if not chosen or math.floor((t - t0) * rate + 1e-6) > math.floor((chosen[-1] - t0) * rate + 1e-6):
            chosen.append(t)
    return chosen


@pytest.fixture(scope="module")
def hamilton() -> Path:
    return fixture("hamilton.mp4")


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory) -> Path:
    """4 s of hamilton re-timed to a variable rate: 30 fps for 2 s, then 10 fps."""
    out = tmp_path_factory.mktemp("vfr") / "vfr.mkv"
    run_ffmpeg(
        "-i",
        str(fixture("hamilton.mp4")),
        "-an",
        "-t",
        "4",
        "-vf",
        "select='lt(n,60)+gte(n,60)*not(mod(n,3))',setpts='if(lt(N,60),N/30,2+(N-60)/10)/TB'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(out),
    )
    return out


@pytest.mark.parametrize(
    "spec,kwargs",
    [("fps:0", {}), ("every:1.5", {}), ("uniform:x", {}), ("key", {}), ("fps:1", {"max_frames": 0}), ("fps:1", {"start_s": 3, "end_s": 2})],
)
def test_bad_specs_are_refused(spec, kwargs):
    with pytest.raises(ValueError):
        SampleSpec.parse(spec, **kwargs)


def test_spec_text_is_canonical():
    assert SampleSpec.parse("fps:1.0", max_frames=5, start_s=1).text == "fps:1;max_frames=5;start_s=1"


def test_fps_starts_at_the_first_video_frame_with_true_pts(hamilton):
    got = sampled(hamilton, "fps:1")
    assert len(got) == 10
    assert got[0] == pytest.approx(HAMILTON_FIRST_PTS_S, abs=1e-3)
    assert got == pytest.approx(grid_oracle(all_pts(hamilton), 1.0), abs=1e-4)


def test_fps_is_correct_on_variable_frame_rate(vfr_clip):
    pts = all_pts(vfr_clip)
    assert np.diff(pts).max() > 2.5 * np.diff(pts).min()  # really variable
    for rate in (1.0, 4.0, 12.0):
        got = sampled(vfr_clip, f"fps:{rate}")
        assert got == pytest.approx(grid_oracle(pts, rate), abs=1e-4)
        assert len(set(got)) == len(got)  # no padded duplicates


def test_every_takes_every_nth_decoded_frame(hamilton):
    assert sampled(hamilton, "every:100") == pytest.approx(all_pts(hamilton)[::100], abs=1e-4)


def test_uniform_spreads_k_frames_over_the_duration(hamilton):
    pts = all_pts(hamilton)
    got = sampled(hamilton, "uniform:5")
    span = pts[-1] + (pts[1] - pts[0]) - pts[0]
    targets = [pts[0] + span * k / 5 for k in range(5)]
    expected = [min(t for t in pts if t >= target - 1e-6) for target in targets]
    assert got == pytest.approx(expected, abs=1e-3)


def test_keyframes_are_the_i_frames(hamilton):
    got = sampled(hamilton, "keyframes")
    assert got == pytest.approx(keyframe_pts(hamilton), abs=1e-4)
    assert 1 < len(got) < 50


def test_window_and_max_frames_bound_any_spec(hamilton):
    got = sampled(hamilton, "fps:2", start_s=3.0, end_s=5.0)
    assert got and all(3.0 <= t < 5.0 for t in got) and len(got) == 4
    assert sampled(hamilton, "fps:2", start_s=3.0, end_s=5.0, max_frames=3) == got[:3]


def test_rotation_metadata_gives_upright_frames(hamilton, tmp_path):
    rotated = make_rotated_copy(hamilton, tmp_path / "rotated.mp4")
    info = probe(rotated)
    assert info.rotation_deg == 90 and (info.width_px, info.height_px) == (360, 640)
    upright = next(iter_frames(rotated, SampleSpec.parse("fps:1"), info)).image_rgb
    original = next(iter_frames(hamilton, SampleSpec.parse("fps:1"), probe(hamilton))).image_rgb
    assert upright.shape == original.shape
    assert np.abs(upright.astype(int) - original.astype(int)).mean() < 4


def test_a_still_is_one_frame_at_time_zero():
    frames = list(iter_frames(fixture("two_people.jpg"), SampleSpec.parse("fps:5"), probe(fixture("two_people.jpg"))))
    assert [f.pts_s for f in frames] == [0.0] and frames[0].size_px == (1126, 661)


def test_frames_are_rgb(tmp_path):
    red = tmp_path / "red.png"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1", str(red))
    image = next(iter_frames(red, SampleSpec.parse("fps:1"), probe(red))).image_rgb
    assert image.shape == (48, 64, 3)
    assert image[10, 10, 0] > 240 and image[10, 10, 2] < 10
