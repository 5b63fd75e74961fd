"""Pair-aware extraction against plain extraction, end to end, on one original and five aligned fakes.

    .venv/bin/python bench/pairs.py [--json out.json] [--rounds 2]

The corpus: hamilton.mp4 (10 s) scaled to 1920x1080 as the original, H.264 ``superfast``
crf 23 with a fixed GOP (``keyint = min-keyint``, no scene-cut keyframes), and five fakes made
from it with ffmpeg, encoded the same way (same frames, same timing): hue shifts, a greyed
copy, more contrast, a blurred region. Two GOPs: 30 frames (1 s: sampling at ``fps:1`` seeks
to keyframes, so the detector dominates) and 300 frames (10 s: the sampled frames are decoded
from the one keyframe, so decoding dominates). Each round runs ``run_extract`` with
``extract.pair_aware`` on and off into fresh folders, interleaved, and keeps each arm's faster
try; curation runs with ``curate.embedder: none`` (embedding costs the same in both arms).
The ratio is off / on in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import polars as pl  # noqa: E402

from bench.corpus import CACHE, FIXTURES  # noqa: E402
from pipeline.config import CurateOptions, ExtractOptions  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.runs.extract import run_extract  # noqa: E402

FAKES = {
    "hue30": "hue=h=30",
    "hue90": "hue=h=90",
    "grey": "hue=s=0",
    "contrast": "eq=contrast=1.2",
    "blur": "[0:v]crop=400:400:760:140,boxblur=10:2[b];[0:v][b]overlay=760:140",
}
GOPS = {"gop1s": 30, "gop10s": 300}


def _encode(gop: int) -> list[str]:
    x264 = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    return ["-an", "-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-x264-params", x264]


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def corpus(name: str, gop: int) -> Path:
    """The original and its fakes in ``bench/.cache/pairs_<name>/`` with a manifest (made once)."""
    root = CACHE / f"pairs_{name}"
    manifest = root / "manifest.csv"
    if manifest.is_file():
        return manifest
    root.mkdir(parents=True, exist_ok=True)
    original = root / "original.mp4"
    _ffmpeg("-i", str(FIXTURES / "hamilton.mp4"), "-vf", "scale=1920:1080", *_encode(gop), str(original))
    for fake, graph in FAKES.items():
        flag = "-filter_complex" if graph.startswith("[") else "-vf"
        _ffmpeg("-i", str(original), flag, graph, *_encode(gop), str(root / f"{fake}.mp4"))
    rows = ["uri,label,original", "original.mp4,REAL,", *(f"{fake}.mp4,FAKE,original.mp4" for fake in FAKES)]
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def one_run(manifest: Path, pair_aware: bool, det_max_side: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out")
        extract = ExtractOptions(corpus=str(manifest), out=out, sample="fps:1", pair_aware=pair_aware, det_max_side=det_max_side)
        started = time.perf_counter()
        summary = run_extract(extract, CurateOptions(embedder="none"))
        wall = time.perf_counter() - started
        videos = pl.read_parquet(Path(tmp) / "out" / "videos.parquet")
    modes = dict(videos.group_by(pl.col("pair_mode").fill_null("original")).len().iter_rows())
    return {"wall_s": round(wall, 2), "detector_frames": summary.counts["detect"].processed, "pair_modes": modes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gops", nargs="+", default=list(GOPS), choices=list(GOPS))
    parser.add_argument("--det-max-side", type=int, default=ExtractOptions().det_max_side, help="the detector's input side (its cost)")
    args = parser.parse_args()
    results = {}
    for name in args.gops:
        manifest = corpus(name, GOPS[name])
        one_run(manifest, True, args.det_max_side)  # warm: model loaded, files in the page cache
        tries: dict[str, list[dict]] = {"on": [], "off": []}
        for _ in range(args.rounds):
            for arm in ("off", "on"):
                tries[arm].append(one_run(manifest, arm == "on", args.det_max_side))
        best = {arm: min(runs, key=lambda r: r["wall_s"]) for arm, runs in tries.items()}
        results[name] = {"tries": tries, "best": best, "speedup": round(best["off"]["wall_s"] / best["on"]["wall_s"], 2)}
        off, on = best["off"], best["on"]
        print(f"{name}: off {off['wall_s']} s ({off['detector_frames']} detector frames), on {on['wall_s']} s", end=" ")
        print(f"({on['detector_frames']}): {results[name]['speedup']}x; on: {on['pair_modes']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
