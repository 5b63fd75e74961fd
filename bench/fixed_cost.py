"""The fixed cost of one `facecorpus` run, part by part (issue 17, item 3).

    .venv/bin/python bench/fixed_cost.py [--repeat 5]

Each row is a fresh interpreter, timed from outside (wall clock, best and median of
``--repeat``), in one run so the rows share the machine's load:

- ``python -c pass``: the interpreter alone (the baseline; ratios are against it);
- ``import pipeline.cli.main``: the CLI's imports;
- ``import + CenterFace load``: the same, then the detector's model loaded (onnxruntime session)
  from the edited model cached by an earlier run; ``..., empty cache``: the same where the run
  edits the model (importing ``onnx``) and caches it, as a first run does;
- ``facecorpus extract`` on one still (``two_people.jpg``): the whole command, a fresh dataset folder each time
  (the model cache warm);
- ``import prefect``: what a flow command adds before any flow starts.

The cache folder (``FACECORPUS_CACHE_DIR``) is a temp folder of this run, warmed before timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import FIXTURES  # noqa: E402
from pipeline.fsutil import CACHE_ENV  # noqa: E402

PYTHON = sys.executable
LOAD_DETECTOR = (
    "import pipeline.cli.main; from pipeline.config import ExtractOptions; "
    "from pipeline.detection.registry import make_detector; make_detector(ExtractOptions().detector_config())"
)


def timed(argv: list[str], cwd: Path, cache_dir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=os.environ | {CACHE_ENV: str(cache_dir)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "corpus").mkdir()
        shutil.copy(args.fixtures / "two_people.jpg", work / "corpus")
        facecorpus = str(Path(PYTHON).with_name("facecorpus"))
        cache = work / "cache"
        subprocess.run([PYTHON, "-c", LOAD_DETECTOR], check=True, env=os.environ | {CACHE_ENV: str(cache)})
        rows = {
            "python -c pass": lambda i: [PYTHON, "-c", "pass"],
            "import pipeline.cli.main": lambda i: [PYTHON, "-c", "import pipeline.cli.main"],
            "import + CenterFace load": lambda i: [PYTHON, "-c", LOAD_DETECTOR],
            "import + CenterFace load, empty cache": lambda i: [PYTHON, "-c", LOAD_DETECTOR],
            "facecorpus extract, one still": lambda i: [facecorpus, "extract", "corpus", "--out", f"out{i}", "--no-progress"],
            "import prefect": lambda i: [PYTHON, "-c", "import prefect"],
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        for i in range(args.repeat):  # interleaved: each row sees the same load
            for name, argv in rows.items():
                empty = name.endswith("empty cache")
                times[name].append(timed(argv(i), work, work / f"empty{i}" if empty else cache))
    base = min(times["python -c pass"])
    print(f"{'part':34s} {'best s':>8s} {'median s':>9s} {'best / python':>14s}")
    for name, values in times.items():
        print(f"{name:34s} {min(values):8.2f} {statistics.median(values):9.2f} {min(values) / base:13.1f}x")


if __name__ == "__main__":
    main()
