"""The benchmark: every figure of bench/RESULTS.md, measured side by side in one run.

    .venv/bin/python bench/run.py            # the full run (about 40 min on 2 cores)
    .venv/bin/python bench/run.py --quick    # seconds-long 360p clips: CI's smoke run

Each measurement runs in its own process (``bench/measure.py``) so peak RSS and
CPU time are its own; the clips are generated once into ``bench/.cache/``
(``bench/corpus.py``). Prints markdown: the machine, one table per section, and
the targets with the measured figure next to each. ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.corpus import CACHE, FIXTURES, distinct_cuts, ensure_clip, full_specs, quick_specs  # noqa: E402

MEASURE = BENCH / "measure.py"
RESULT_PREFIX = "BENCH-RESULT "
WORKER_CLIPS = 4


@dataclass
class Bench:
    work: Path
    quick: bool
    repeat: int = 1
    lines: list[str] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    sparse: list[tuple[str, float]] = field(default_factory=list)  # (clip and spec, full decode / seeking)

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def measure(self, key: str, **req) -> dict:
        """Run one measurement in a child process; keep and return its result."""
        argv = [sys.executable, str(MEASURE), json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in req.items()})]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
        found = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if proc.returncode != 0 or not found:
            raise RuntimeError(f"measurement {key} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(found[-1][len(RESULT_PREFIX) :])
        self.results[key] = result
        print(
            f"  measured {key}: {result['wall_s']:.2f} s wall, {result.get('cpu_s', 0):.2f} s CPU (load {result['load_before']:.1f})",
            file=sys.stderr,
            flush=True,
        )
        return result

    def best_of(self, plans: list[tuple[str, dict]]) -> dict[str, dict]:
        """Each (key, request) of ``plans`` ``repeat`` times, in interleaved rounds (so
        a burst of load from elsewhere hits one round, not every try of one
        measurement); keeps each key's try with the least wall time, and all tries' walls."""
        tries: dict[str, list[dict]] = {key: [] for key, _ in plans}
        for round_ in range(self.repeat):
            for key, req in plans:
                req = {**req, **({"out": Path(f"{req['out']}_r{round_}")} if "out" in req else {})}
                tries[key].append(self.measure(f"{key}#{round_}", **req))
        for key, results in tries.items():
            self.results[key] = {**min(results, key=lambda r: r["wall_s"]), "tries_wall_s": [r["wall_s"] for r in results]}
        return {key: self.results[key] for key, _ in plans}

    def corpus(self, name: str, clips: list[Path]) -> Path:
        """A corpus folder holding hard links (or copies) of ``clips``."""
        folder = self.work / f"corpus_{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            target = folder / clip.name
            if not target.exists():
                try:
                    os.link(clip, target)
                except OSError:
                    shutil.copy(clip, target)
        return folder


def machine() -> list[str]:
    import onnxruntime

    from pipeline.media.ffmpeg import ffmpeg_exe

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ffmpeg = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; {mem_gib:.0f} GiB RAM; {platform.platform()}",
        f"- {ffmpeg.split(' Copyright')[0]}; onnxruntime {onnxruntime.__version__} "
        f"({', '.join(onnxruntime.get_available_providers())}); Python {platform.python_version()}",
        f"- load average at start: {os.getloadavg()[0]:.2f} (1 min)",
    ]


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def table(bench: Bench, header: list[str], rows: list[list[str]]) -> None:
    bench.say("| " + " | ".join(header) + " |")
    bench.say("|" + "---|" * len(header))
    for row in rows:
        bench.say("| " + " | ".join(row) + " |")
    bench.say()


def row_of(label: str, r: dict) -> list[str]:
    if len(r.get("tries_wall_s", ())) > 1:
        label += f" (best of {' / '.join(fmt(w, 1) for w in r['tries_wall_s'])} s)"
    load = f"{r['load_before']:.1f}/{r['load_after']:.1f}"
    rss = f"{r['rss_mb']:.0f} / {r['ffmpeg_rss_mb']:.0f} / {r['tree_rss_mb']:.0f}"
    return [label, fmt(r["wall_s"]), fmt(r["cpu_s"]), str(r.get("frames", "")), str(r.get("faces", "")), rss, load]


MEASURE_HEADER = ["measurement", "wall s", "CPU s", "frames", "faces", "peak RSS MB: python / ffmpeg / both", "load before/after"]


def section_main(bench: Bench, clip: Path, spec: str) -> None:
    """Decode-only, detect-only, pipeline, flow and the naive baseline for one clip and spec."""
    corpus = bench.corpus("main", [clip])
    got = bench.best_of(
        [
            ("main.decode", dict(kind="decode", path=clip, spec=spec)),
            ("main.detect", dict(kind="detect", path=clip, spec=spec, scratch=bench.work / "frames.raw")),
            ("main.pipeline", dict(kind="pipeline", corpus=corpus, out=bench.work / "out_main", spec=spec, rerun=True)),
            ("main.flow", dict(kind="flow", corpus=corpus, out=bench.work / "out_flow", spec=spec)),
            ("main.naive", dict(kind="naive", path=clip, spec=spec, out=bench.work / "naive_crops")),
        ]
    )
    dec, det, pipe, flow, naive = (got[k] for k in ("main.decode", "main.detect", "main.pipeline", "main.flow", "main.naive"))
    rows = [
        row_of("decode-only (ffmpeg sampling graph to null)", dec),
        row_of("detect-only (frames decoded beforehand)", det),
        row_of("end-to-end, pipeline (`run_extract`)", pipe),
        row_of("end-to-end, flow (Prefect `ingest`)", flow),
        row_of(f"naive (VideoCapture, detector at {naive['det_max_side']} px, imwrite)", naive),
    ]
    if not bench.quick:  # the former default input size, for reference: 4x the network work, other detections
        large = bench.measure(
            "main.pipeline1280", kind="pipeline", corpus=corpus, out=bench.work / "out_1280", spec=spec, options={"det_max_side": 1280}
        )
        rows.append(row_of("end-to-end, pipeline, `det_max_side: 1280` (not the default; other detections)", large))
    bench.say(f"### 1. `{spec}` on `{clip.name}`")
    bench.say()
    table(bench, MEASURE_HEADER, rows)
    parts = dec["wall_s"] + det["wall_s"]
    duration_s = _duration_s(clip)
    table(
        bench,
        ["figure", "value"],
        [
            ["pipeline / (decode-only + detect-only), wall", fmt(pipe["wall_s"] / parts)],
            ["flow / (decode-only + detect-only), wall", fmt(flow["wall_s"] / parts)],
            ["flow's validate task (GX data contracts, once per run), wall s", fmt(flow["validate_s"])],
            ["flow without its validate task / (decode-only + detect-only), wall", fmt((flow["wall_s"] - flow["validate_s"]) / parts)],
            ["pipeline / (decode-only + detect-only), CPU", fmt(pipe["cpu_s"] / (dec["cpu_s"] + det["cpu_s"]))],
            ["naive / pipeline (speed-up), wall", fmt(naive["wall_s"] / pipe["wall_s"])],
            ["naive / flow (speed-up), wall", fmt(naive["wall_s"] / flow["wall_s"])],
            ["naive / pipeline (speed-up), CPU", fmt(naive["cpu_s"] / pipe["cpu_s"])],
            ["sampled frames/s, pipeline", fmt(pipe["frames"] / pipe["wall_s"], 1)],
            ["videos/hour, pipeline (this clip)", fmt(3600 / pipe["wall_s"], 1)],
            ["video hours processed per hour", fmt(duration_s / pipe["wall_s"], 2)],
            ["model load (once per process, not in the times above)", fmt(pipe["model_load_s"])],
            ["Prefect test server start (once, not in the flow time)", fmt(flow["server_start_s"])],
            ["rerun on the unchanged corpus, wall s: pipeline / flow", f"{fmt(pipe['rerun_wall_s'])} / {fmt(flow['rerun_wall_s'])}"],
            [
                "rerun / first run: pipeline / flow",
                f"{pipe['rerun_wall_s'] / pipe['wall_s']:.4f} / {flow['rerun_wall_s'] / flow['wall_s']:.4f}",
            ],
        ],
    )


def _duration_s(clip: Path) -> float:
    from pipeline.media.probe import probe

    return probe(clip).duration_s


def section_keyframes(bench: Bench, clip: Path) -> None:
    corpus = bench.corpus("long_gop", [clip])
    rows = []
    for spec in ("fps:1", "keyframes"):
        dec = bench.measure(f"keyframes.decode.{spec}", kind="decode", path=clip, spec=spec)
        pipe = bench.measure(f"keyframes.pipeline.{spec}", kind="pipeline", corpus=corpus, out=bench.work / f"out_kf_{spec}", spec=spec)
        rows += [row_of(f"`{spec}` decode-only", dec), row_of(f"`{spec}` end-to-end (pipeline)", pipe)]
    bench.say(f"### 2. `keyframes` against `fps:1` on `{clip.name}`")
    bench.say()
    table(bench, MEASURE_HEADER, rows)
    r = bench.results
    speedup = r["keyframes.pipeline.fps:1"]["wall_s"] / r["keyframes.pipeline.keyframes"]["wall_s"]
    table(bench, ["figure", "value"], [["`fps:1` / `keyframes`, end-to-end wall", fmt(speedup, 1)]])


def section_sparse(bench: Bench, clips: list[Path]) -> None:
    rows = []
    for clip in clips:
        full = bench.measure(f"sparse.decode_all.{clip.stem}", kind="decode_all", path=clip)
        for spec in ("fps:0.2", "uniform:16"):
            seek = bench.measure(f"sparse.seek.{clip.stem}.{spec}", kind="decode", path=clip, spec=spec)
            one = bench.measure(f"sparse.onepass.{clip.stem}.{spec}", kind="decode", path=clip, spec=spec, seek=False)
            pipe = {"wall_s": float("nan"), "frames": "-"}
            if not bench.quick:  # the end-to-end figure is extra information: not in CI's smoke run
                corpus = bench.corpus(f"sparse_{clip.stem}", [clip])
                pipe = bench.measure(
                    f"sparse.pipeline.{clip.stem}.{spec}",
                    kind="pipeline",
                    corpus=corpus,
                    out=bench.work / f"out_sparse_{clip.stem}_{spec}",
                    spec=spec,
                )
            rows.append(
                [
                    f"`{clip.name}`",
                    f"`{spec}`",
                    fmt(full["wall_s"]),
                    fmt(one["wall_s"]),
                    f"{fmt(seek['wall_s'])} ({seek['ffmpeg_runs']} runs)",
                    fmt(full["wall_s"] / seek["wall_s"], 1),
                    fmt(pipe["wall_s"]),
                    str(pipe["frames"]),
                ]
            )
            bench.sparse.append((f"{clip.name.split('_1080p')[0].split('_360p')[0]} {spec}", full["wall_s"] / seek["wall_s"]))
    bench.say("### 3. Sparse sampling: skipping (dropped packets, seeks) against decoding everything")
    bench.say()
    table(
        bench,
        [
            "clip",
            "spec",
            "full decode s",
            "one-pass sampling s",
            "skipping sampling s (ffmpeg runs)",
            "full / skipping",
            "end-to-end s (skipping)",
            "frames",
        ],
        rows,
    )


def section_rss(bench: Bench, short: Path, long: Path) -> None:
    corpus = bench.corpus("short", [short])
    small = bench.measure("rss.pipeline.short", kind="pipeline", corpus=corpus, out=bench.work / "out_rss_short", spec="fps:1")
    big = bench.results["main.pipeline"]
    bench.say("### 4. Peak RSS against video length (`fps:1`, pipeline)")
    bench.say()
    table(
        bench,
        ["clip", "duration s", "peak RSS python MB", "peak RSS ffmpeg MB", "peak RSS both MB", "wall s"],
        [
            [
                f"`{c.name}`",
                fmt(_duration_s(c), 0),
                fmt(r["rss_mb"], 0),
                fmt(r["ffmpeg_rss_mb"], 0),
                fmt(r["tree_rss_mb"], 0),
                fmt(r["wall_s"]),
            ]
            for c, r in ((short, small), (long, big))
        ],
    )


def section_means(bench: Bench, short: Path) -> None:
    """Each means against its absence, one at a time, on the 60 s clip."""
    corpus = bench.corpus("short", [short])
    variants = [
        ("all means (the default)", {}),
        ("onnxruntime 1 thread instead of 2", {"threads": 1}),
        ("onnxruntime threads spinning (its default)", {"spin": True}),
        ("no decoding ahead (prefetch 0)", {"prefetch": 0}),
        # The former "detector runs of 4 frames instead of 1" variant ({"cpu_batch": 4})
        # is gone: detectors no longer batch (one frame per run, no batch knob).
        ("one plain pass (no dropping, no seeking)", {"seek": False}),
    ]
    if bench.quick:  # CI's smoke run: the default and one variant are enough to keep it working
        variants = [variants[0], variants[-1]]
    rows = []
    for label, knobs in variants:
        key = "means." + label.split(" (")[0]
        r = bench.measure(key, kind="pipeline", corpus=corpus, out=bench.work / f"out_means_{len(rows)}", spec="fps:1", **knobs)
        rows.append(row_of(f"end-to-end: {label}", r))
    # The former detect-only rows "batches of 1" and "batches of 4" are gone with
    # detector batching (measure.py's ``batch`` knob was removed).
    bench.say(f"### 5. Each means against its absence (`fps:1` on `{short.name}`, pipeline)")
    bench.say()
    table(bench, MEASURE_HEADER, rows)


def section_workers(bench: Bench, source: Path) -> None:
    """1 and 2 workers as configured (the cores split among the workers), and both
    again with single-threaded workers (ffmpeg and onnxruntime one thread each):
    the pool's own scaling, which the default hides when one worker already keeps
    every core busy."""
    cuts = distinct_cuts(source, WORKER_CLIPS, _duration_s(source))
    corpus = bench.corpus("workers", cuts)
    plans = [
        (f"workers.{w}", dict(kind="pipeline", corpus=corpus, out=bench.work / f"out_workers_{w}", spec="fps:1", workers=w)) for w in (1, 2)
    ]
    plans += [
        (
            f"workers.{w}.single",
            dict(
                kind="pipeline",
                corpus=corpus,
                out=bench.work / f"out_workers_{w}_single",
                spec="fps:1",
                workers=w,
                pool_threads=1,
                ffmpeg_threads=1,
            ),
        )
        for w in (1, 2)
    ]
    got = bench.best_of(plans)
    cores = os.cpu_count() or 1
    rows = [
        row_of(f"{w} worker(s), onnxruntime {max(1, cores // w)} thread(s) each (the default split)", got[f"workers.{w}"]) for w in (1, 2)
    ]
    rows += [row_of(f"{w} single-threaded worker(s) (ffmpeg and onnxruntime 1 thread)", got[f"workers.{w}.single"]) for w in (1, 2)]
    bench.say(f"### 6. Workers on a {WORKER_CLIPS}-video corpus (`fps:1`, ingest's `run_shard`)")
    bench.say()
    table(bench, MEASURE_HEADER, rows)
    one, two = got["workers.1"], got["workers.2"]
    one_s, two_s = got["workers.1.single"], got["workers.2.single"]
    table(
        bench,
        ["figure", "value"],
        [
            ["2 workers / 1 worker speed-up, wall (default split)", fmt(one["wall_s"] / two["wall_s"])],
            [
                "cores busy (CPU s / wall s): 1 worker / 2 workers (default split)",
                f"{fmt(one['cpu_s'] / one['wall_s'])} / {fmt(two['cpu_s'] / two['wall_s'])}",
            ],
            ["2 / 1 single-threaded workers, wall (the pool's scaling)", fmt(one_s["wall_s"] / two_s["wall_s"])],
            [
                "cores busy: 1 / 2 single-threaded workers",
                f"{fmt(one_s['cpu_s'] / one_s['wall_s'])} / {fmt(two_s['cpu_s'] / two_s['wall_s'])}",
            ],
            ["videos/hour with 2 workers (default split)", fmt(WORKER_CLIPS * 3600 / two["wall_s"], 0)],
        ],
    )


def section_targets(bench: Bench) -> None:
    r = bench.results
    parts = r["main.decode"]["wall_s"] + r["main.detect"]["wall_s"]
    ratio = r["main.pipeline"]["wall_s"] / parts
    flow_ratio = r["main.flow"]["wall_s"] / parts
    flow_bare = (r["main.flow"]["wall_s"] - r["main.flow"]["validate_s"]) / parts
    naive = r["main.naive"]["wall_s"] / r["main.pipeline"]["wall_s"]
    keyframes = r["keyframes.pipeline.fps:1"]["wall_s"] / r["keyframes.pipeline.keyframes"]["wall_s"]
    sparse = bench.sparse
    rss = max(
        r["main.pipeline"]["tree_rss_mb"],
        r["rss.pipeline.short"]["tree_rss_mb"],
        r["main.pipeline"]["rss_mb"] + r["main.pipeline"]["ffmpeg_rss_mb"],
    )
    rss_growth = r["main.pipeline"]["rss_mb"] - r["rss.pipeline.short"]["rss_mb"]
    rerun = r["main.pipeline"]["rerun_wall_s"] / r["main.pipeline"]["wall_s"]
    flow_rerun = r["main.flow"]["rerun_wall_s"] / r["main.flow"]["wall_s"]
    workers = r["workers.1"]["wall_s"] / r["workers.2"]["wall_s"]
    pool = r["workers.1.single"]["wall_s"] / r["workers.2.single"]["wall_s"]
    rows = [
        [
            "end-to-end <= 1.15 x (decode-only + detect-only), `fps:1`",
            f"pipeline {ratio:.2f}, flow {flow_ratio:.2f} ({flow_bare:.2f} without its validate task)",
            _ok(max(ratio, flow_ratio) <= 1.15),
        ],
        [">= 3 x faster than the naive baseline, `fps:1`", f"{naive:.2f} x", _ok(naive >= 3)],
        ["`keyframes` >= 5 x faster than `fps:1`, long GOP", f"{keyframes:.1f} x", _ok(keyframes >= 5)],
        [
            "sparse sampling cheaper than a full decode",
            ", ".join(f"{name}: {x:.1f} x" for name, x in sparse),
            _ok(all(x > 1 for _, x in sparse)),
        ],
        ["peak RSS < 1 GB (python + ffmpeg, `fps:1` pipeline)", f"{rss:.0f} MB", _ok(rss < 1024)],
        ["peak RSS flat in video length", f"python {rss_growth:+.0f} MB from the short to the long clip", _ok(abs(rss_growth) < 100)],
        ["rerun <= 5 % of the first run", f"pipeline {rerun:.2%}, flow {flow_rerun:.2%}", _ok(max(rerun, flow_rerun) <= 0.05)],
        ["1 -> 2 workers >= 1.6 x", f"{workers:.2f} x (single-threaded workers: {pool:.2f} x)", _ok(workers >= 1.6)],
    ]
    bench.say("### Targets")
    bench.say()
    if bench.quick:
        bench.say("(`--quick`: seconds-long 360p clips check that every measurement runs; the figures say nothing about the targets.)")
        bench.say()
    table(bench, ["target", "measured", "met"], rows)


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter, description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long 360p clips (CI): checks the harness, not the hardware")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--spec", default="fps:1", help="sampling spec of section 1")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one under bench/.cache)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    parser.add_argument("--repeat", type=int, default=2, help="tries of sections 1 and 6 (interleaved; the fastest is kept); --quick: 1")
    args = parser.parse_args()
    started = time.perf_counter()
    specs = quick_specs() if args.quick else full_specs()
    cache = CACHE / "quick" if args.quick else CACHE
    clips = {name: ensure_clip(spec, args.fixtures / "hamilton.mp4", cache) for name, spec in specs.items()}
    work = args.work or cache / f"work-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    bench = Bench(work=work, quick=args.quick, repeat=1 if args.quick else max(1, args.repeat))
    try:
        run_sections(bench, clips, args.spec)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bench.say(f"Benchmark wall time: {time.perf_counter() - started:.0f} s; load average at the end: {os.getloadavg()[0]:.2f}.")
    if args.out:
        args.out.write_text("\n".join(bench.lines) + "\n")


def run_sections(bench: Bench, clips: dict[str, Path], spec: str) -> None:
    bench.say("## Machine")
    bench.say()
    for line in machine():
        bench.say(line)
    bench.say()
    section_main(bench, clips["short_gop_10min"], spec)
    section_keyframes(bench, clips["long_gop_10min"])
    # CI's smoke run keeps to one clip here: the other adds nothing but time.
    section_sparse(bench, [clips["short_gop_10min"]] if bench.quick else [clips["short_gop_10min"], clips["long_gop_10min"]])
    section_rss(bench, clips["short_gop_60s"], clips["short_gop_10min"])
    section_means(bench, clips["short_gop_60s"])
    section_workers(bench, clips["short_gop_60s"])
    section_targets(bench)


if __name__ == "__main__":
    main()
