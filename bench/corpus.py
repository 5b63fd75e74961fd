"""Benchmark corpora, generated with ffmpeg from the fixtures into ``bench/.cache/`` (git-ignored).

Long clips: hamilton.mp4 (the only fixture with real faces in motion) looped,
scaled to 1920x1080, H.264 ``superfast`` (CABAC, B-frames and deblocking, as
camera and phone footage has; ``ultrafast`` turns all three off and would make
decoding unrealistically cheap), crf 23, 29.97 fps, with a fixed GOP
(``keyint = min-keyint``, no scene-cut keyframes):

- ``short_gop``: a keyframe every 30 frames (1 s);
- ``long_gop``: a keyframe every 300 frames (10 s).

A 60 s unit of each is encoded once, then concatenated with stream copy into the
10 min clip (same bytes per unit, whole GOPs, continuous timestamps), which keeps
generation to about two minutes on two cores. ``--quick`` uses small clips
(360p, seconds long) made the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.media.ffmpeg import ffmpeg_exe

CACHE = Path(__file__).resolve().parent / ".cache"
# The shared test media, as tests/conftest.py finds it.
FIXTURES = Path(os.environ.get("FACECORPUS_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
FIXTURE_MEDIA = ("hamilton.mp4", "two_people.jpg", "obama_and_biden.jpg")
FRAME_RATE = "30000/1001"


@dataclass(frozen=True)
class ClipSpec:
    """A generated clip: ``units`` copies of a ``unit_frames`` unit of ``width_px`` x ``height_px``."""

    name: str
    width_px: int
    height_px: int
    gop_frames: int
    unit_frames: int
    units: int
    encoder: str = "libx264"
    preset: str = "superfast"
    rate: str = FRAME_RATE

    @property
    def duration_s(self) -> float:
        num, _, den = self.rate.partition("/")
        return self.unit_frames * self.units * int(den or 1) / int(num)

    @property
    def file_name(self) -> str:
        default = (self.encoder, self.preset, self.rate) == ("libx264", "superfast", FRAME_RATE)
        variant = "" if default else f"_{self.encoder}_{self.preset}_r{self.rate.replace('/', '-')}"
        return f"{self.name}_{self.height_px}p_g{self.gop_frames}_{self.unit_frames}x{self.units}{variant}.mp4"


def issue17_specs(quick: bool = False) -> dict[str, ClipSpec]:
    """The per-frame benchmark's clips (bench/per_frame.py): 60 s of 1080p at 25 fps, as issue 17
    measured: H.264 (x264 veryfast, B-frames) with a 1 s and a 10 s GOP, and HEVC (x265 veryfast,
    B-frames, its default open GOP) with a 10 s GOP. ``quick``: 4 s of 360p of each."""
    size, frames = ((640, 360), 100) if quick else ((1920, 1080), 1500)
    return {
        "h264_gop1s": ClipSpec("h264_gop1s", *size, 25, frames, 1, "libx264", "veryfast", "25"),
        "h264_gop10s": ClipSpec("h264_gop10s", *size, 250, frames, 1, "libx264", "veryfast", "25"),
        "hevc_gop10s": ClipSpec("hevc_gop10s", *size, 250, frames, 1, "libx265", "veryfast", "25"),
    }


def full_specs() -> dict[str, ClipSpec]:
    """The 10 min 1080p clips and their 60 s units (the units are clips too)."""
    specs = {}
    for name, gop in (("short_gop", 30), ("long_gop", 300)):
        specs[f"{name}_60s"] = ClipSpec(name, 1920, 1080, gop, 1800, 1)
        specs[f"{name}_10min"] = ClipSpec(name, 1920, 1080, gop, 1800, 10)
    return specs


def quick_specs() -> dict[str, ClipSpec]:
    """Seconds-long 360p stand-ins for --quick (CI): same GOP shapes, scaled down."""
    specs = {}
    for name, gop in (("short_gop", 15), ("long_gop", 150)):
        specs[f"{name}_60s"] = ClipSpec(name, 640, 360, gop, 150, 1)
        specs[f"{name}_10min"] = ClipSpec(name, 640, 360, gop, 150, 2)
    return specs


def ensure_clip(spec: ClipSpec, hamilton: Path, cache: Path = CACHE) -> Path:
    """The clip for ``spec`` in ``cache``, generated when absent."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / spec.file_name
    if out.is_file():
        return out
    unit = cache / replace(spec, units=1).file_name
    if not unit.is_file():
        _encode_unit(spec, hamilton, unit)
    if spec.units > 1:
        _concat(unit, spec.units, out)
    return out


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _encode_unit(spec: ClipSpec, hamilton: Path, out: Path) -> None:
    tmp = out.with_suffix(".tmp.mp4")
    gop = f"keyint={spec.gop_frames}:min-keyint={spec.gop_frames}:scenecut=0"
    params = ("-x264-params", gop) if spec.encoder == "libx264" else ("-x265-params", f"{gop}:log-level=error", "-tag:v", "hvc1")
    _ffmpeg(
        "-stream_loop",
        "-1",
        "-i",
        str(hamilton),
        "-an",
        "-vf",
        f"scale={spec.width_px}:{spec.height_px},fps={spec.rate}",
        "-frames:v",
        str(spec.unit_frames),
        "-c:v",
        spec.encoder,
        "-preset",
        spec.preset,
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        *params,
        str(tmp),
    )
    os.replace(tmp, out)


def _concat(unit: Path, units: int, out: Path) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{unit.name}'\n" for _ in range(units)))
    tmp = out.with_suffix(".tmp.mp4")
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(tmp))
    listing.unlink()
    os.replace(tmp, out)


def distinct_cuts(src: Path, count: int, duration_s: float) -> list[Path]:
    """``count`` clips of half ``src``'s length, starting at different keyframes, cut
    by stream copy (distinct bytes, so the snapshot keeps them apart): a multi-video
    corpus for the worker-scaling measurement. Kept beside ``src``."""
    folder = src.parent / f"cuts_{src.stem}_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        clip = folder / f"cut{i}.mp4"
        if not clip.is_file():
            tmp = clip.with_suffix(".tmp.mp4")
            start_s = i * duration_s / (2 * count)
            _ffmpeg("-ss", f"{start_s:.3f}", "-i", str(src), "-t", f"{duration_s / 2:.3f}", "-c", "copy", "-an", str(tmp))
            os.replace(tmp, clip)
        out.append(clip)
    return out


def fixture_corpus(fixtures: Path, folder: Path) -> Path:
    """``folder``, made, holding copies of the fixtures' media (a 1-video, 2-still corpus)."""
    folder.mkdir(parents=True)
    for name in FIXTURE_MEDIA:
        shutil.copy(fixtures / name, folder / name)
    return folder
