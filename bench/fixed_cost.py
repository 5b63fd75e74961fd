"""The fixed cost of one `facecorpus` run, part by part (issue 17, item 3).

    .venv/bin/python bench/fixed_cost.py [--repeat 5] [--before TREE]

Each row is a fresh interpreter, timed from outside (wall clock, best and median of
``--repeat``), in one run so the rows share the machine's load:

- ``python -c pass``: the interpreter alone (the baseline; ratios are against it);
- ``libraries a still needs``: the third-party imports of ``facecorpus extract`` on one
  still (numpy, OpenCV, pyarrow, polars, onnxruntime, scipy's DCT for the pHash, PIL,
  imagehash, dlib), nothing of the project: the floor the project's own work adds to;
- ``import pipeline.cli.main``: the CLI's imports;
- ``import + CenterFace load``: the same, then the detector's model loaded (onnxruntime session)
  from the edited model cached by an earlier run; ``..., empty cache``: the same where the run
  edits the model (importing ``onnx``) and caches it, as a first run does;
- ``facecorpus extract`` on one still (``two_people.jpg``): the whole command, a fresh dataset folder each time
  (the model cache warm);
- ``import prefect``: what a flow command adds before any flow starts.

The cache folder (``FACECORPUS_CACHE_DIR``) is a temp folder of this run, warmed before timing.
``--before TREE`` (a checkout of another commit, e.g. ``git archive <rev> | tar -x -C TREE``)
adds the CLI, model-load and still rows run from that tree's code (``PYTHONPATH=TREE``),
interleaved with this tree's: before and after under the same load.
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import FIXTURES  # noqa: E402
from pipeline.fsutil import CACHE_ENV  # noqa: E402

PYTHON = sys.executable
FACECORPUS = str(Path(PYTHON).with_name("facecorpus"))
LOAD_DETECTOR = (
    "import pipeline.cli.main; from pipeline.config import ExtractOptions; "
    "from pipeline.detection.registry import make_detector; make_detector(ExtractOptions().detector_config())"
)
STILL_LIBRARIES = "import numpy, cv2, pyarrow.parquet, polars, onnxruntime, scipy.fftpack, PIL.Image, imagehash, dlib"
EMPTY_CACHE = "empty cache"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def project_rows(label: str) -> dict[str, Callable[[int], list[str]]]:
    """The rows that run the project's code, named with ``label``."""
    return {
        f"import pipeline.cli.main{label}": lambda i: [PYTHON, "-c", "import pipeline.cli.main"],
        f"import + CenterFace load{label}": lambda i: [PYTHON, "-c", LOAD_DETECTOR],
        f"import + CenterFace load, {EMPTY_CACHE}{label}": lambda i: [PYTHON, "-c", LOAD_DETECTOR],
        f"facecorpus extract, one still{label}": lambda i: [FACECORPUS, "extract", "corpus", "--out", f"out{label}{i}", "--no-progress"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--before", type=Path, help="a checkout of another commit, timed side by side (rows marked 'before')")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "corpus").mkdir()
        shutil.copy(args.fixtures / "two_people.jpg", work / "corpus")
        env = os.environ | {CACHE_ENV: str(work / "cache")}
        subprocess.run([PYTHON, "-c", LOAD_DETECTOR], check=True, env=env)  # warms the model cache
        rows = {
            "python -c pass": lambda i: [PYTHON, "-c", "pass"],
            "libraries a still needs": lambda i: [PYTHON, "-c", STILL_LIBRARIES],
            **project_rows(""),
            "import prefect": lambda i: [PYTHON, "-c", "import prefect"],
        }
        envs = dict.fromkeys(rows, env)
        if args.before:
            before = project_rows(" (before)")
            rows |= before
            envs |= dict.fromkeys(before, env | {"PYTHONPATH": str(args.before.resolve())})
        times: dict[str, list[float]] = {name: [] for name in rows}
        for i in range(args.repeat):  # interleaved: each row sees the same load
            for name, argv in rows.items():
                empty = {CACHE_ENV: str(work / f"empty{i}{name}")} if EMPTY_CACHE in name else {}
                times[name].append(timed(argv(i), work, envs[name] | empty))
    base = min(times["python -c pass"])
    print(f"{'part':48s} {'best s':>8s} {'median s':>9s} {'best / python':>14s}")
    for name, values in times.items():
        print(f"{name:48s} {min(values):8.2f} {statistics.median(values):9.2f} {min(values) / base:13.1f}x")


if __name__ == "__main__":
    main()
