"""The edited CenterFace model's cache: the same bytes and detections as a fresh edit, no onnx
import on a hit, and a corrupted entry made again (the real model, the real user-cache code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.detection.base import DetectorConfig
from pipeline.detection.centerface import (
    CenterFaceDetector,
    centerface_model_path,
    fast_model_bytes,
    fast_model_cache_entry,
    load_fast_model,
)
from pipeline.fsutil import CACHE_ENV, CHECKSUM_SUFFIX
from tests.conftest import REPO
from tests.detection.test_centerface import still

STILLS = ("two_people.jpg", "obama_and_biden.jpg", "t1.jpg")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def entry() -> Path:
    return fast_model_cache_entry(centerface_model_path().read_bytes())


def detections(detector: CenterFaceDetector) -> list:
    return [detector.detect(still(name)) for name in STILLS]


def test_cached_and_fresh_loads_give_identical_bytes_and_detections(cache_dir):
    fresh = load_fast_model(centerface_model_path()).SerializeToString()
    assert not entry().exists()
    first = CenterFaceDetector(DetectorConfig())  # edits the model and caches it
    assert entry().parent.parent == cache_dir and entry().read_bytes() == fresh
    second = CenterFaceDetector(DetectorConfig())  # loads the cached bytes
    assert fast_model_bytes(centerface_model_path()) == fresh
    found = detections(first)
    assert found == detections(second) and all(found)


def test_a_cache_hit_does_not_import_onnx(cache_dir):
    fast_model_bytes(centerface_model_path())
    code = (
        "import sys; from pipeline.detection.centerface import CenterFaceDetector; from pipeline.detection.base import DetectorConfig; "
        "CenterFaceDetector(DetectorConfig()); assert 'onnx' not in sys.modules, 'onnx imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:-100]),  # truncated
        lambda path: path.write_bytes(b"\0" + path.read_bytes()[1:]),  # a byte changed, same size
        lambda path: path.with_name(path.name + CHECKSUM_SUFFIX).unlink(),  # written, checksum never
        lambda path: path.with_name(path.name + CHECKSUM_SUFFIX).write_text("not a sha256\n"),
    ],
    ids=["truncated", "byte-changed", "no-checksum", "bad-checksum"],
)
def test_a_corrupted_cache_entry_is_made_again(cache_dir, damage):
    fresh = fast_model_bytes(centerface_model_path())
    damage(entry())
    assert fast_model_bytes(centerface_model_path()) == fresh
    assert entry().read_bytes() == fresh  # rewritten, checked again on the next load
    assert fast_model_bytes(centerface_model_path()) == fresh


def test_an_unwritable_cache_costs_speed_only(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    assert fast_model_bytes(centerface_model_path()) == load_fast_model(centerface_model_path()).SerializeToString()
