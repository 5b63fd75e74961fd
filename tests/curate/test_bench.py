"""bench/curation.py keeps working (its --quick clip; timings are never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_curation_benchmark_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "curation.py"), "--clip", "quick", "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["frames"] > 0 and figures["faces"] > 0 and figures["ratio_one_run"] > 0
    assert set(figures["stage_seconds"]) == {"frames", "quality", "tracks", "filter", "duplicates", "near_duplicate_videos"}
    assert "curation's added wall time over extraction, one run:" in result.stdout
