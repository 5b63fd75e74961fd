"""A corpus of generated variants for curation, extracted once at fps:2 (real ffmpeg, real CenterFace)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import CurateOptions
from pipeline.runs.extract import RunSummary, run_extract
from tests.conftest import extract_options, fixture, insightface_image, run_ffmpeg

X264 = ("-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
# hamilton.mp4's shots (sampled at fps:2 from its first frame, 0.852 s): scene cuts at about
# 1.5 s, 3.7 s and 8.0 s (by eye, and by the frame histograms); the close-up of one
# person runs from 3.7 s to 8.0 s, the audience shot of five people from 8.0 s.
CLOSE_UP_S = (4.0, 4.0)  # start, duration


def make_variants(root: Path) -> None:
    ham = str(fixture("hamilton.mp4"))
    shutil.copy(ham, root / "hamilton.mp4")
    run_ffmpeg("-i", ham, "-vf", "scale=480:270", *X264[:-2], "-crf", "30", str(root / "ham_small.mp4"))
    start, duration = (str(v) for v in CLOSE_UP_S)
    run_ffmpeg("-ss", start, "-t", duration, "-i", ham, *X264, str(root / "lin.mp4"))
    run_ffmpeg("-ss", start, "-t", duration, "-i", ham, "-vf", "boxblur=4:1", *X264, str(root / "lin_blur.mp4"))
    frame = root.parent / f"{root.name}_frame.png"
    run_ffmpeg("-ss", "5.5", "-i", ham, "-frames:v", "1", str(frame))
    run_ffmpeg("-loop", "1", "-t", "3", "-r", "30", "-i", str(frame), *X264, str(root / "still.mp4"))
    frame.unlink()
    both = "[0:v]scale=640:360,setsar=1,fps=30[a];[1:v]scale=640:360,setsar=1,fps=30,format=yuv420p[b];[a][b]concat=n=2:v=1[v]"
    run_ffmpeg(
        "-ss", "8.1", "-t", "1.9", "-i", ham, "-loop", "1", "-t", "2", "-i", str(insightface_image("t1.jpg")),
        "-filter_complex", both, "-map", "[v]", *X264, str(root / "cut.mp4"),
    )  # fmt: skip


@pytest.fixture(scope="session")
def curation_corpus(tmp_path_factory) -> Path:
    """hamilton.mp4; a copy re-encoded at 480x270 (ham_small); its close-up shot (lin) and that
    shot box-blurred (lin_blur); one frame of the close-up repeated for 3 s (still); the end
    of hamilton's audience shot followed by a hard cut to a still of another group (cut)."""
    root = tmp_path_factory.mktemp("curation_corpus")
    make_variants(root)
    return root


@pytest.fixture(scope="session")
def curated(curation_corpus, tmp_path_factory) -> tuple[Path, RunSummary]:
    out = tmp_path_factory.mktemp("curated")
    # One face per track embedded (dlib: ~100 ms a face): identities are tested on their own corpora.
    return out, run_extract(extract_options(curation_corpus, out, sample="fps:2"), CurateOptions(embed_per_track=1))
