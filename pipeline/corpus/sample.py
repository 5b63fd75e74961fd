"""The bundled sample corpus, rendered at first run from images that ship in installed wheels.

No media is committed: insightface's ``t1.jpg`` and ``Tom_Hanks_54745.png`` and
scikit-image's ``astronaut.png`` become two short H.264 clips (a slow pan/zoom, and
one stored sideways with rotation metadata that turns it upright) plus the
stills, and a ``manifest.csv`` carrying licence, consent and source for each.
Encoding is single-threaded and bit-exact so the bytes (hence the video ids) are
the same on every machine with the same ffmpeg.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
import tempfile
from pathlib import Path

import ffmpeg

from pipeline.fsutil import atomic_write_bytes
from pipeline.media.ffmpeg import ffmpeg_exe

CLIP_FPS = 25
PAN_SECONDS = 4
ROTATED_SECONDS = 3
MANIFEST = "manifest.csv"
_ENCODE = {
    "vcodec": "libx264",
    "pix_fmt": "yuv420p",
    "crf": 26,
    "preset": "medium",
    "threads": 1,
    "fflags": "+bitexact",
    "flags:v": "+bitexact",
    "map_metadata": -1,
}


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r} package")
    return path


def source_images() -> dict[str, Path]:
    return {
        "t1": package_file("insightface", "data", "images", "t1.jpg"),
        "tom_hanks": package_file("insightface", "data", "images", "Tom_Hanks_54745.png"),
        "astronaut": package_file("skimage", "data", "astronaut.png"),
    }


def _run(stream) -> None:
    argv = stream.global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y").compile(cmd=ffmpeg_exe())
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)


def render_pan_zoom(image: Path, out: Path, seconds: int = PAN_SECONDS, size: str = "960x540") -> None:
    """A slow zoom (1.0 -> 1.25) with a left-to-right pan over a still."""
    frames = seconds * CLIP_FPS
    zoom = f"1+0.25*on/{frames}"
    stream = ffmpeg.input(str(image), loop=1, framerate=CLIP_FPS).filter(
        "zoompan", z=zoom, x=f"(iw-iw/zoom)*on/{frames}", y="(ih-ih/zoom)/2", d=1, s=size, fps=CLIP_FPS
    )
    _run(ffmpeg.output(stream, str(out), t=seconds, **_ENCODE))


def render_rotated(image: Path, out: Path, seconds: int = ROTATED_SECONDS) -> None:
    """A portrait clip stored turned 90 degrees clockwise, with display rotation 90
    (counter-clockwise) so players, and this pipeline, show it upright."""
    with tempfile.TemporaryDirectory() as tmp:
        sideways = Path(tmp) / "sideways.mp4"
        frames = seconds * CLIP_FPS
        stream = (
            ffmpeg.input(str(image), loop=1, framerate=CLIP_FPS)
            .filter("zoompan", z=f"1+0.15*on/{frames}", x="(iw-iw/zoom)/2", y="(ih-ih/zoom)/2", d=1, s="384x512", fps=CLIP_FPS)
            .filter("transpose", dir="clock")
        )
        _run(ffmpeg.output(stream, str(sideways), t=seconds, **_ENCODE))
        rotated = ffmpeg.input(str(sideways), display_rotation=90).output(str(out), c="copy", **{"fflags": "+bitexact", "map_metadata": -1})
        _run(rotated)


def build_sample_corpus(out_dir: Path) -> list[Path]:
    """Write the sample corpus into ``out_dir`` (idempotent) and return its files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = source_images()
    written = []
    for name, render, src in (
        ("t1_pan_zoom.mp4", render_pan_zoom, images["t1"]),
        ("astronaut_rotated.mp4", render_rotated, images["astronaut"]),
    ):
        target = out_dir / name
        if not target.is_file():
            with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
                rendered = Path(tmp) / name
                render(src, rendered)
                atomic_write_bytes(target, rendered.read_bytes())
        written.append(target)
    for key, src in images.items():
        target = out_dir / f"{key}{src.suffix}"
        if not target.is_file():
            atomic_write_bytes(target, src.read_bytes())
        written.append(target)
    manifest = out_dir / MANIFEST
    atomic_write_bytes(manifest, _manifest_csv(written), skip_if_same=True)
    return [*written, manifest]


def _manifest_csv(files: list[Path]) -> bytes:
    insightface_licence = "MIT (insightface code licence; image provenance per insightface)"
    # stem: (subject, source, licence); t1 is a group photo, so no single subject.
    sources = {
        "t1": ("", "insightface wheel: data/images/t1.jpg", insightface_licence),
        "tom_hanks": ("tom_hanks", "insightface wheel: data/images/Tom_Hanks_54745.png", insightface_licence),
        "astronaut": ("eileen_collins", "scikit-image wheel: data/astronaut.png (NASA)", "public-domain"),
        "astronaut_rotated": ("eileen_collins", "rendered from scikit-image data/astronaut.png (NASA)", "public-domain"),
        "t1_pan_zoom": ("", "rendered from insightface data/images/t1.jpg", insightface_licence),
    }
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["uri", "label", "subject", "split", "license", "consent", "source"])
    for path in sorted(files):
        subject, source, licence = sources[path.stem]
        writer.writerow([path.name, "real", subject, "sample", licence, "demo-only", source])
    return buf.getvalue().encode()
