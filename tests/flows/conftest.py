"""One real Prefect test server for the whole session (prefect_test_harness)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import SYSTEM_TEMP, fixture, insightface_image, run_ffmpeg


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    # The harness removes its database folder at exit, after pytest has removed its base temp (where
    # tests/conftest.py puts tempfile's folder): that folder goes to the system's temp instead, and goes.
    moved, tempfile.tempdir = tempfile.tempdir, SYSTEM_TEMP
    try:
        harness = prefect_test_harness(server_startup_timeout=120)
        harness.__enter__()
    finally:
        tempfile.tempdir = moved
    try:
        yield PREFECT_API_URL.value()
    finally:
        harness.__exit__(None, None, None)


@pytest.fixture(scope="session")
def flow_corpus(tmp_path_factory) -> Path:
    """The fixtures plus two short clips generated from hamilton (distinct bytes)."""
    root = tmp_path_factory.mktemp("flow_corpus")
    for name in ("hamilton.mp4", "two_people.jpg", "obama_and_biden.jpg"):
        shutil.copy(fixture(name), root / name)
    shutil.copy(insightface_image("t1.jpg"), root / "t1.jpg")
    run_ffmpeg(
        "-ss", "1", "-t", "2", "-i", str(fixture("hamilton.mp4")), "-an", "-c:v", "libx264", "-preset", "ultrafast", str(root / "ham_a.mp4")
    )
    run_ffmpeg(
        "-ss",
        "7",
        "-t",
        "2",
        "-i",
        str(fixture("hamilton.mp4")),
        "-vf",
        "hflip",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(root / "ham_b.mkv"),
    )
    return root
