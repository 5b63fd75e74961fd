"""The hostile corpus (tests/hostile.py) runs to the end with --timeout-s 5: every input a row,
hamilton ok with its faces, each failure named, no face from a byte outside the corpus."""

from __future__ import annotations

import os

import pytest

from tests import hostile


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")
def test_hostile_corpus_runs_to_the_end(tmp_path):
    figures = hostile.run(tmp_path, timeout_s=5.0)
    assert figures["problems"] == []
    assert figures["hamilton_status"] == "ok" and figures["hamilton_faces"] >= 15
    assert figures["inputs"] >= 40
