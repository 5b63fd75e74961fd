"""One extraction run over a corpus, in this process: snapshot, each video, merge."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpus import load_corpus
from pipeline.extract import ExtractConfig
from pipeline.manifests import write_manifests
from pipeline.snapshot import snapshot
from pipeline.videojob import VideoJob, VideoOutcome


@dataclass(frozen=True)
class RunSummary:
    out_dir: Path
    videos_ok: int
    videos_failed: int
    videos_skipped: int
    videos_detected: int
    videos_aligned: int
    frames_sampled: int
    faces: int
    wall_s: float
    failures: tuple[str, ...]

    @property
    def frames_per_s(self) -> float:
        return self.frames_sampled / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failure_ratio(self) -> float:
        total = self.videos_ok + self.videos_failed
        return self.videos_failed / total if total else 0.0


def summarize(out_dir: Path, outcomes: list[VideoOutcome], wall_s: float) -> RunSummary:
    failed = [o for o in outcomes if o.video["status"] != "ok"]
    return RunSummary(
        out_dir=Path(out_dir),
        videos_ok=len(outcomes) - len(failed),
        videos_failed=len(failed),
        videos_skipped=sum(o.skipped for o in outcomes),
        videos_detected=sum(o.detected for o in outcomes),
        videos_aligned=sum(o.aligned for o in outcomes),
        frames_sampled=sum(o.frames_decoded for o in outcomes),
        faces=sum(o.detections.num_rows for o in outcomes),
        wall_s=wall_s,
        failures=tuple(f"{o.video['error']} [{o.video['error_kind']}]" for o in failed),
    )


def run_extract(
    corpus_location: Path,
    out_dir: Path,
    config: ExtractConfig,
    progress: Callable[[Iterable], Iterable] | None = None,
    timeout_s: float | None = None,
    detect_root: Path | None = None,
    align: bool = True,
) -> RunSummary:
    """Extract every video of the corpus, one after another, then merge the manifests
    (with ``align=False``: the detect stage only, into ``detect_root``; no manifests)."""
    started = time.perf_counter()
    inputs = snapshot(load_corpus(corpus_location))
    job = VideoJob(out_dir, config, timeout_s=timeout_s, detect_root=detect_root, align=align)
    outcomes = list(job.run(progress(inputs) if progress else inputs))
    if align:
        write_manifests(Path(out_dir), inputs, outcomes)
    return summarize(out_dir, outcomes, time.perf_counter() - started)


def missing_detections(corpus_location: Path, config: ExtractConfig, detect_root: Path) -> list[str]:
    """Uris of corpus videos the detect stage has not finished (under the current fingerprint)."""
    job = VideoJob(detect_root, config, detect_root=detect_root, align=False)
    return [i.entry.uri for i in snapshot(load_corpus(corpus_location)) if job.detect.load(i.video_id) is None]
