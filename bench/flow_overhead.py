"""The ingest flow's overhead over calling the pipeline directly, on the fixtures.

    .venv/bin/python bench/flow_overhead.py [--fixtures ../shared/fixtures] [--repeat 3]

In one run, alternating, each on a fresh dataset folder: ``run_extract`` (the
pipeline in this process, no Prefect) and the ``ingest`` flow (against a Prefect
server started once beforehand; local task runner; its validation step
included, Data Docs off). Prints the best time of each, the no-op rerun of
each, the ratios, and the one-off start-up of Prefect's temporary server, which
``facecorpus ingest`` pays when no PREFECT_API_URL is set.
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


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from flows.ingest import ingest
    from pipeline.config import Options
    from pipeline.runs.extract import run_extract

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = fixture_corpus(args.fixtures, work / "corpus")
        # The defaults, Data Docs off (validate.docs; formerly the flow's "data_docs" option).
        base = Options().merged({"extract": {"corpus": str(corpus)}, "validate": {"docs": False}})

        def at(out: Path) -> Options:
            return base.merged({"extract": {"out": str(out)}})

        startup_s = time.perf_counter()
        with prefect_test_harness(server_startup_timeout=120):
            startup_s = time.perf_counter() - startup_s
            run_extract(at(work / "warm").extract)  # model loaded once, for both
            direct, flow, direct_noop, flow_noop = [], [], [], []
            for n in range(args.repeat):
                d_opts, f_opts = at(work / f"direct{n}" / "dataset"), at(work / f"flow{n}" / "dataset")
                direct.append(timed(lambda d=d_opts: run_extract(d.extract)))
                flow.append(timed(lambda f=f_opts: ingest(f.to_json())))
                direct_noop.append(timed(lambda d=d_opts: run_extract(d.extract)))
                flow_noop.append(timed(lambda f=f_opts: ingest(f.to_json())))
    print(f"{'':<28}{'direct s':>10}{'flow s':>10}{'flow/direct':>13}{'overhead s':>12}")
    for label, d, f in (
        (f"first run (best of {args.repeat})", min(direct), min(flow)),
        ("no-op rerun (best)", min(direct_noop), min(flow_noop)),
    ):
        print(f"{label:<28}{d:>10.2f}{f:>10.2f}{f / d:>13.2f}{f - d:>12.2f}")
    print(f"Prefect test server start-up (once per process without PREFECT_API_URL): {startup_s:.1f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
