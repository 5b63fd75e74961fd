"""Decoding only what the samples need, and the cost per sampled frame (issue 17), side by side in one run.

    .venv/bin/python bench/per_frame.py [--repeat 2] [--out per_frame.md]
    .venv/bin/python bench/per_frame.py --quick        # 4 s 360p clips: checks that it runs

Clips (``bench/corpus.py:issue17_specs``): 60 s of 1080p at 25 fps, hamilton.mp4 looped:
H.264 (x264 veryfast, B-frames) with a 1 s and a 10 s GOP, HEVC (x265 veryfast, B-frames,
open GOP) with a 10 s GOP. For each clip at ``fps:1``, every measurement in its own process
(``bench/measure.py``), in interleaved rounds (``--repeat``), the faster try kept:

- full decode: every frame decoded to the null muxer (``decode_all``);
- one pass: the single ffmpeg run that decodes everything and selects (to null, RGB);
- plan: the runs of the sampling's packet plan (to null, RGB): seeks, dropped packets and
  dropped non-reference pictures;
- detector alone: CenterFace on the sampled frames held in memory (``detect``);
- end to end: the video pass (``run_extract`` without curation and manifests: snapshot,
  probe, decode, detect, signatures, align, crops, work files), its first run; and the same
  with at most one sampled frame, whose wall is the run's fixed cost; the cost per sampled
  frame is the difference over the frames between;
- per-frame breakdown (``breakdown``): each part of the work alone, per sampled frame.

Then the targets of issue 17 with the figure next to each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.corpus import FIXTURES, ensure_clip, issue17_specs  # noqa: E402
from bench.run import Bench, fmt, machine, table  # noqa: E402

SPEC = "fps:1"
ONE_FRAME = {"max_frames": 1}
HEADER = ["clip", "frames", "full decode", "one pass", "plan", "detector alone", "end to end", "fixed (1 frame)"]
HEADER += ["e2e per frame ms", "detector per frame ms"]
TIMED = ("full", "one_pass", "plan", "detect", "e2e", "e2e_1")
PARTS = ("decode_yuv", "decode_rgb", "pipe", "letterbox", "blob", "network", "heads", "signature", "warp", "encode", "write")


def measure_clip(bench: Bench, name: str, clip: Path) -> dict[str, dict]:
    corpus = bench.corpus(name, [clip])
    out = bench.work / f"out_{name}"
    plans = [
        ("full", {"kind": "decode_all", "path": clip, "spec": SPEC}),
        ("one_pass", {"kind": "decode", "path": clip, "spec": SPEC, "seek": False}),
        ("plan", {"kind": "decode", "path": clip, "spec": SPEC}),
        ("detect", {"kind": "detect", "path": clip, "spec": SPEC, "scratch": bench.work / "scratch"}),
        ("e2e", {"kind": "pipeline", "corpus": corpus, "out": out, "spec": SPEC, "merge": False}),
        ("e2e_1", {"kind": "pipeline", "corpus": corpus, "out": Path(f"{out}_1"), "spec": SPEC, "merge": False, "options": ONE_FRAME}),
    ]
    got = bench.best_of([(f"{name}:{key}", req) for key, req in plans])
    got = {key.split(":", 1)[1]: value for key, value in got.items()}
    got["breakdown"] = bench.measure(f"{name}:breakdown", kind="breakdown", path=clip, spec=SPEC)
    return got


def report(bench: Bench, results: dict[str, dict[str, dict]]) -> None:
    bench.say("## Decoding and end to end, `fps:1`, wall seconds (CPU seconds)")
    bench.say()
    rows = []
    for name, r in results.items():
        timed = [f"{fmt(r[k]['wall_s'])} ({fmt(r[k]['cpu_s'])})" for k in TIMED]
        rows.append([name, str(r["e2e"]["frames"]), *timed, fmt(per_frame_ms(r)), fmt(detector_ms(r))])
    table(bench, HEADER, rows)
    bench.say("## Per sampled frame, each part alone (ms)")
    bench.say()
    parts = [[name, *(fmt(r["breakdown"]["per_frame_ms"].get(p, 0.0), 1) for p in PARTS)] for name, r in results.items()]
    table(bench, ["clip", *PARTS], parts)
    targets(bench, results)


def detector_ms(r: dict[str, dict]) -> float:
    return 1000 * r["detect"]["wall_s"] / r["detect"]["frames"]


def per_frame_ms(r: dict[str, dict]) -> float:
    """End to end per sampled frame beyond the run's fixed cost: (all frames - one frame) / (frames - 1)."""
    return 1000 * (r["e2e"]["wall_s"] - r["e2e_1"]["wall_s"]) / max(r["e2e"]["frames"] - 1, 1)


def targets(bench: Bench, results: dict[str, dict[str, dict]]) -> None:
    bench.say("## Targets (issue 17)")
    bench.say()
    rows = []
    if "h264_gop10s" in results:
        r = results["h264_gop10s"]
        ratio = r["e2e"]["wall_s"] / (r["full"]["wall_s"] + r["detect"]["wall_s"])
        rows.append(["10 s GOP B-frames: end to end <= 0.8x (full decode + detector alone)", f"**{ratio:.2f}x**", _ok(ratio <= 0.8)])
    if "h264_gop1s" in results:
        r = results["h264_gop1s"]
        ratio = per_frame_ms(r) / detector_ms(r)
        rows.append(["1 s GOP: end to end per sampled frame <= 1.3x the detector's own", f"**{ratio:.2f}x**", _ok(ratio <= 1.3)])
    for name, r in results.items():
        rows.append([f"{name}: plan / full decode", f"{r['plan']['wall_s'] / r['full']['wall_s']:.2f}x", "reported"])
    table(bench, ["target", "measured", "status"], rows)


def _ok(met: bool) -> str:
    return "met" if met else "missed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the faster try is kept (default: 2)")
    parser.add_argument("--quick", action="store_true", help="4 s 360p clips: checks that every measurement runs")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facecorpus-per-frame-") as work:
        bench = Bench(Path(work), args.quick, repeat=1 if args.quick else args.repeat)
        bench.say("# Per-frame benchmark (issue 17)")
        bench.say()
        for line in machine():
            bench.say(line)
        bench.say()
        clips = {name: ensure_clip(spec, FIXTURES / "hamilton.mp4") for name, spec in issue17_specs(args.quick).items()}
        results = {name: measure_clip(bench, name, clip) for name, clip in clips.items()}
        report(bench, results)
    if args.out:
        args.out.write_text("\n".join(bench.lines) + "\n")


if __name__ == "__main__":
    main()
