"""Stored work is keyed by what a stage outputs, not by its source: a comment edit or a moved
module reruns nothing; a version bump reruns that stage and what reads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fixture, run_ffmpeg, tree_state

REPO = Path(__file__).resolve().parents[2]


def extract_with(code: Path, corpus: Path, out: Path) -> str:
    """``facecorpus extract`` run from the package copy in ``code`` (checked to be the one imported)."""
    script = (
        "import sys, pipeline, flows.cli\n"
        f"assert pipeline.__file__.startswith({str(code)!r}), pipeline.__file__\n"
        f"sys.exit(flows.cli.main(['extract', {str(corpus)!r}, '--out', {str(out)!r}, '--no-progress']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=code, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def code_copy(tmp_path) -> Path:
    code = tmp_path / "code"
    for package in ("pipeline", "schemas", "flows"):
        shutil.copytree(REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def test_comment_edits_and_a_moved_module_rerun_nothing_and_a_version_bump_reruns(code_copy, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two_people.jpg")
    run_ffmpeg(
        "-ss",
        "1",
        "-t",
        "2",
        "-i",
        str(fixture("hamilton.mp4")),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(corpus / "clip.mp4"),
    )
    out = tmp_path / "out"
    first = extract_with(code_copy, corpus, out)
    assert "detector ran on 2 videos, alignment on 2" in first
    before = tree_state(out)

    # Comments in the decoder, the detector and both stages; a module moved to another name.
    for path in ("media/sampling.py", "detection/centerface.py", "stages/detect.py", "stages/align.py"):
        target = code_copy / "pipeline" / path
        target.write_text("# a comment added by a refactor\n" + target.read_text())
    (code_copy / "pipeline" / "media" / "prefetch.py").rename(code_copy / "pipeline" / "media" / "ahead.py")
    edit(code_copy / "pipeline" / "stages" / "video.py", "from pipeline.media.prefetch import", "from pipeline.media.ahead import")
    edit(code_copy / "pipeline" / "stages" / "ahead.py", "from pipeline.media.prefetch import", "from pipeline.media.ahead import")
    second = extract_with(code_copy, corpus, out)
    assert "detector ran on 0 videos, alignment on 0" in second and "(2 already done)" in second
    assert tree_state(out) == before  # nothing rewritten

    # A bumped align version: alignment reruns from the stored detections; the detector does not.
    edit(code_copy / "pipeline" / "stages" / "align.py", "    version = 1\n", "    version = 2\n")
    third = extract_with(code_copy, corpus, out)
    assert "detector ran on 0 videos, alignment on 2" in third
