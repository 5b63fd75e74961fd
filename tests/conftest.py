"""Shared test setup: the real fixture media, ffmpeg-made variants, one extraction reused.

The fixtures are the real files in ``../shared/fixtures`` (or $FACECORPUS_FIXTURES);
their face counts come from that folder's README (counted by eye).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pipeline.config import ExtractOptions
from pipeline.corpus.sample import package_file
from pipeline.fsutil import CACHE_ENV
from pipeline.media.ffmpeg import ffmpeg_exe
from pipeline.runs.extract import RunSummary, run_extract

REPO = Path(__file__).resolve().parents[1]
# DVC's usage analytics stay off in every test repository, the in-process dvc.api included.
os.environ["DVC_NO_ANALYTICS"] = "1"


SYSTEM_TEMP = tempfile.gettempdir()  # before pytest_configure moves tempfile's folder


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Every temp file of the session under pytest's own base temp folder (removed when the session
    passes: tmp_path_retention_policy), not the system's: tempfile's folder, TMPDIR for subprocesses,
    Dask's scratch space (LocalCluster workers' spill), the user cache folder (the edited model)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or hasattr(config, "workerinput"):
        return
    scratch = factory.getbasetemp() / "tmp"
    scratch.mkdir(exist_ok=True)
    tempfile.tempdir = str(scratch)
    os.environ["TMPDIR"] = str(scratch)
    os.environ["DASK_TEMPORARY_DIRECTORY"] = str(scratch / "dask")
    os.environ[CACHE_ENV] = str(scratch / "cache")


FIXTURES = Path(os.environ.get("FACECORPUS_FIXTURES", REPO.parent / "shared" / "fixtures"))

# From shared/fixtures/README.md.
STILL_FACES = {"two_people.jpg": 2, "obama_and_biden.jpg": 3, "t1.jpg": 6, "Tom_Hanks_54745.png": 1}
HAMILTON_FACES_PER_SECOND = [2, 2, 3, 3, 1, 1, 1, 1, 5, 5]
# Frames (0-based, at fps:1) that also hold defocused audience faces that may be found.
HAMILTON_AUDIENCE_FRAMES = {2, 3, 8, 9}
HAMILTON_FIRST_PTS_S = 0.852


def extract_options(corpus: Path, out: Path, **options) -> ExtractOptions:
    """The extraction options for ``corpus`` into ``out``: the defaults, but for ``options``."""
    return ExtractOptions(corpus=str(corpus), out=str(out), **options)


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file below ``folder``: equal states mean nothing was rewritten."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"test media {path} is missing: set FACECORPUS_FIXTURES to the shared fixtures folder")
    return path


def insightface_image(name: str) -> Path:
    return package_file("insightface", "data", "images", name)


def run_ffmpeg(*args: str) -> None:
    """Run the pipeline's own ffmpeg binary (quiet; raises on failure)."""
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_rotated_copy(src: Path, out: Path) -> Path:
    """A copy whose pixels are stored turned 90 degrees clockwise, with display rotation
    metadata (90 counter-clockwise) that turns it upright again. Lossless, so the
    upright frames equal the source's pixel for pixel."""
    sideways = out.with_name(out.stem + "_sideways.mp4")
    run_ffmpeg("-i", str(src), "-an", "-vf", "transpose=clock", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", str(sideways))
    run_ffmpeg("-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(out))
    sideways.unlink()
    return out


@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory) -> Path:
    """The four stills and hamilton.mp4 in one folder."""
    root = tmp_path_factory.mktemp("fixture_corpus")
    for name in ("hamilton.mp4", "two_people.jpg", "obama_and_biden.jpg"):
        shutil.copy(fixture(name), root / name)
    for name in ("t1.jpg", "Tom_Hanks_54745.png"):
        shutil.copy(insightface_image(name), root / name)
    return root


@pytest.fixture(scope="session")
def extracted(fixture_corpus, tmp_path_factory) -> tuple[Path, RunSummary]:
    """One default extraction (fps:1, centerface, arcface) of the fixture corpus."""
    out = tmp_path_factory.mktemp("extracted")
    return out, run_extract(extract_options(fixture_corpus, out))
