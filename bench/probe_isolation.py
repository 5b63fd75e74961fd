"""The cost of probing in a killable child process (issue 12) against probing in-process.

    .venv/bin/python -m bench.probe_isolation [--rounds N]

Probes each input N times three ways, interleaved: in-process (the baseline, measured
in the same run), in the kept child (``probe_within``, what runs use) and in a child
started for the probe (what a kill costs the next input). Prints median seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from pipeline.media import isolate
from pipeline.media.isolate import probe_within
from pipeline.media.probe import probe

FIXTURES = Path(os.environ.get("FACECORPUS_FIXTURES", "/work/shared/fixtures"))
INPUTS = ("hamilton.mp4", "two_people.jpg", "obama_and_biden.jpg")


def _timed(call, path: Path) -> float:
    started = time.perf_counter()
    call(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    print("| input | in-process, s | kept child, s | ratio | fresh child, s | ratio |")
    print("|---|---|---|---|---|---|")
    probe_within(FIXTURES / INPUTS[0], None)  # the kept child starts once
    for name in INPUTS:
        path = FIXTURES / name
        here, kept, fresh = [], [], []
        for _ in range(rounds):
            here.append(_timed(probe, path))
            kept.append(_timed(lambda p: probe_within(p, None), path))
            isolate._stop(isolate._local.worker)
            fresh.append(_timed(lambda p: probe_within(p, None), path))
        a, b, c = (statistics.median(x) for x in (here, kept, fresh))
        print(f"| {name} | {a:.4f} | {b:.4f} | {b / a:.2f} | {c:.3f} | {c / a:.0f} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
