"""Curation's added wall time over extraction, as a ratio measured in one run.

    .venv/bin/python bench/curation.py                  # the 10 min 1080p clip (1 s GOP) at fps:1
    .venv/bin/python bench/curation.py --clip 60s       # its 60 s unit
    .venv/bin/python bench/curation.py --clip quick     # 10 s of 360p: checks that it runs

One process, one corpus (the clip of ``bench/corpus.py``), the detector loaded
first. The run is the pipeline's own steps, timed one by one:

1. the video pass with frame signatures (decode, detect, align, and the
   ``frames`` stage on every sampled frame, as ``run_extract`` does);
2. ``curate_and_write``: the per-video quality and tracks stages, the filters,
   near-duplicate faces and videos, the tracks table, and the three manifests.

Curation's cost is the ``frames`` stage's own seconds inside the pass plus all
of step 2 (conservative: step 2 also writes the manifests, which extraction
wrote before curation existed, and the frames stage runs while ffmpeg decodes
ahead on the other core, so its seconds are at most its wall time). The ratio
is that cost over the rest of the pass. For a cross-check the script then runs
the pass again without frame signatures into another folder (the baseline
before curation): its wall time against step 1's is an A/B difference, noisier
on a shared machine than the one-run ratio, and printed next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import numpy as np  # noqa: E402

from bench.corpus import CACHE, FIXTURES, ensure_clip, full_specs, quick_specs  # noqa: E402
from pipeline.config import CurateOptions, ExtractOptions  # noqa: E402
from pipeline.corpus.load import load_corpus  # noqa: E402
from pipeline.corpus.snapshot import snapshot  # noqa: E402
from pipeline.detection.registry import make_detector  # noqa: E402
from pipeline.runs.manifests import curate_and_write  # noqa: E402
from pipeline.stages.video import VideoPass  # noqa: E402

CURATION_STAGES = ("frames", "quality", "tracks", "filter", "duplicates", "near_duplicate_videos")


def clip_for(name: str) -> Path:
    spec = quick_specs()["short_gop_60s"] if name == "quick" else full_specs()[f"short_gop_{name}"]
    return ensure_clip(spec, FIXTURES / "hamilton.mp4")


def measure(clip: Path, work: Path, sample: str) -> dict:
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    try:  # a hard link: the corpus refuses symlinks that leave it
        os.link(clip, corpus / clip.name)
    except OSError:
        shutil.copy(clip, corpus / clip.name)
    curated = ExtractOptions(corpus=str(corpus), out=str(work / "curated"), sample=sample)
    # Loaded and run once before any timing (onnxruntime's first run of a session is slow).
    make_detector(curated.detector_config()).detect(np.zeros((360, 640, 3), np.uint8))
    inputs = snapshot(load_corpus(corpus))
    job = VideoPass.build(curated)
    started = time.perf_counter()
    outcomes = list(job.run(inputs))
    pass_s = time.perf_counter() - started
    started = time.perf_counter()
    # Curation I as issue 13 measured it: identities (the embed stage, ~100 CPU ms per embedded face)
    # are Curation II's cost, measured by bench/identities_fixtures.py.
    counts, stage_counts = curate_and_write(curated.out_dir, job, inputs, outcomes, CurateOptions(embedder="none"))
    curate_s = time.perf_counter() - started
    frames_s = job.frames.counts.seconds
    baseline = ExtractOptions(corpus=str(corpus), out=str(work / "baseline"), sample=sample)
    started = time.perf_counter()
    list(VideoPass.build(baseline, signatures=False).run(snapshot(load_corpus(corpus))))
    baseline_s = time.perf_counter() - started
    extraction_s = pass_s - frames_s
    return {
        "clip": clip.name,
        "sample": sample,
        "frames": job.counts.frames,
        "faces": counts.faces,
        "pass_s": pass_s,
        "frames_stage_s": frames_s,
        "curate_and_write_s": curate_s,
        "stage_seconds": {name: stage_counts[name].seconds for name in CURATION_STAGES if name in stage_counts} | {"frames": frames_s},
        "ratio_one_run": (frames_s + curate_s) / extraction_s,
        "baseline_pass_s": baseline_s,
        "ratio_a_b": (pass_s + curate_s - baseline_s) / baseline_s,
        "curation": counts.to_json(),
        "load_after": os.getloadavg()[0],
    }


def report(r: dict) -> str:
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in r["stage_seconds"].items())
    return "\n".join(
        [
            f"clip {r['clip']} at {r['sample']}: {r['frames']} frames, {r['faces']} faces",
            f"video pass with frame signatures: {r['pass_s']:.2f} s (of which the frames stage {r['frames_stage_s']:.2f} s)",
            f"curation and manifests: {r['curate_and_write_s']:.2f} s; stages: {stages}",
            f"curation's added wall time over extraction, one run: {r['ratio_one_run']:.1%}",
            f"cross-check, A/B: the pass without signatures took {r['baseline_pass_s']:.2f} s -> {r['ratio_a_b']:+.1%}",
            f"curation: {r['curation']}",
            f"1-min load average after: {r['load_after']:.2f}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clip", choices=("10min", "60s", "quick"), default="10min")
    parser.add_argument("--sample", default="fps:1")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    clip = clip_for(args.clip)
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="curation-", dir=CACHE))
    try:
        result = measure(clip, work, args.sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
