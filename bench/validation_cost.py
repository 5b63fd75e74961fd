"""The ingest flow's fixed validation cost, before and after issue 20, in one run.

    .venv/bin/python bench/validation_cost.py [--fixtures ../shared/fixtures] [--repeat 3]

Before: the flow's validate task built the Data Docs site on every run
(``validate_dataset(..., build_docs=True)``). After: it validates only; Data Docs
are built on demand (``facecorpus validate --docs``). Both are timed on the same
dataset (the fixtures, extracted once), alternating, with no reuse of a stored
report (a first run's cost); prints the best of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import FIXTURES, fixture_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pipeline.config import Options
    from pipeline.runs.extract import run_extract
    from pipeline.validate.suites import validate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = fixture_corpus(args.fixtures, work / "corpus")
        options = Options().merged({"extract": {"corpus": str(corpus), "out": str(work / "dataset")}})
        run_extract(options.extract)
        dataset, limits = options.extract.out_dir, options.validate.limits()
        validate_dataset(dataset, limits, reports_dir=work / "warm", build_docs=True)  # imports, GX warm-up
        timings: dict[bool, list[float]] = {True: [], False: []}
        for n in range(args.repeat):
            for docs in (True, False):
                started = time.perf_counter()
                validate_dataset(dataset, limits, reports_dir=work / f"r{n}-{docs}", build_docs=docs)
                timings[docs].append(time.perf_counter() - started)
    before, after = min(timings[True]), min(timings[False])
    print(f"{'':<44}{'best s':>8}   tries")
    print(f"{'before: validate + Data Docs (every flow run)':<44}{before:>8.2f}   {', '.join(f'{t:.2f}' for t in timings[True])}")
    print(f"{'after: validate only (Data Docs on demand)':<44}{after:>8.2f}   {', '.join(f'{t:.2f}' for t in timings[False])}")
    print(f"after / before: {after / before:.2f} (saves {before - after:.2f} s per flow run)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
