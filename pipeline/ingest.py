"""The ingest job's library half (flows/ingest.py is the Prefect half; this never imports prefect).

prepare: snapshot the corpus and plan shards of the videos with work left ->
run_shard: each shard's videos through a worker pool -> finish: merge the
manifests and report counts, failures and throughput.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.batches import Shard, mark_shard_done, plan, write_snapshot
from pipeline.corpus import load_corpus
from pipeline.manifests import write_manifests
from pipeline.options import IngestSettings, extract_config
from pipeline.snapshot import VideoInput, snapshot
from pipeline.stage import RETRYABLE_KINDS
from pipeline.videojob import VideoJob, VideoOutcome


@dataclass(frozen=True)
class Plan:
    snapshot_id: str
    inputs: tuple[VideoInput, ...]
    shards: tuple[Shard, ...]
    todo: int

    def shard_inputs(self, shard: Shard) -> list[VideoInput]:
        by_id = {i.video_id: i for i in self.inputs}
        return [by_id[v] for v in shard.video_ids if v in by_id]


@dataclass(frozen=True)
class ShardReport:
    shard_id: str
    videos: int
    processed: int
    detected: int
    aligned: int
    failed: int
    frames: int
    seconds: float


@dataclass(frozen=True)
class IngestReport:
    snapshot_id: str
    videos: int
    todo: int
    shards: int
    processed: int
    detected: int
    aligned: int
    ok: int
    failed: int
    frames: int
    faces: int
    wall_s: float
    max_failure_ratio: float
    failures: tuple[str, ...] = field(default=())

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.videos if self.videos else 0.0

    @property
    def gate_passed(self) -> bool:
        return self.failure_ratio <= self.max_failure_ratio

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def markdown(self) -> str:
        gate = "passed" if self.gate_passed else "FAILED"
        lines = [
            "# facecorpus ingest",
            "",
            "| measure | value |",
            "|---|---|",
            f"| videos in corpus | {self.videos} |",
            f"| videos with work to do | {self.todo} |",
            f"| shards run | {self.shards} |",
            f"| videos processed | {self.processed} (detector ran on {self.detected}, aligned {self.aligned}) |",
            f"| videos ok / failed | {self.ok} / {self.failed} |",
            f"| failure ratio | {self.failure_ratio:.3f} (max {self.max_failure_ratio:g}: {gate}) |",
            f"| frames decoded | {self.frames} |",
            f"| faces in dataset | {self.faces} |",
            f"| wall time | {self.wall_s:.2f} s |",
            f"| throughput | {self.frames_per_s:.1f} frames/s |",
            f"| snapshot | `{self.snapshot_id}` |",
        ]
        if self.failures:
            lines += ["", "## Failures", "", *[f"- {f}" for f in self.failures]]
        return "\n".join(lines) + "\n"


def make_job(out_dir: Path, options: dict, settings: IngestSettings, threads: int | None = None) -> VideoJob:
    config = extract_config(options, threads=settings.ort_threads if threads is None else threads)
    detect_root = Path(options["detect_root"]) if options.get("detect_root") else None
    return VideoJob(out_dir, config, timeout_s=settings.timeout_s, retries=settings.retries, backoff_s=settings.backoff_s, detect_root=detect_root)


def prepare(corpus: Path, out_dir: Path, options: dict, settings: IngestSettings, only: list[str] | None = None) -> Plan:
    """Snapshot the corpus and plan shards for every video with work left (restricted to ``only``)."""
    inputs = snapshot(load_corpus(corpus))
    snapshot_id = write_snapshot(out_dir, inputs)
    job = make_job(out_dir, options, settings)
    todo = [i for i in inputs if (only is None or i.video_id in only) and job.skip(i) is None]
    fingerprints = {"detect": job.detect.fingerprint, "align": job.align.fingerprint}
    shards = plan(out_dir, todo, fingerprints, settings.shard_videos, int(settings.shard_mb * 1e6))
    return Plan(snapshot_id, tuple(inputs), tuple(shards), len(todo))


def run_shard(out_dir: Path, shard: Shard, inputs: list[VideoInput], options: dict, settings: IngestSettings) -> ShardReport:
    """Run a shard's videos through a pool of ``settings.worker_count`` threads (decoding
    runs in ffmpeg processes and inference releases the GIL; no more threads than
    videos, the cores split among them: ``IngestSettings.pool_for``), then mark the shard done."""
    started = time.perf_counter()
    workers, threads = settings.pool_for(len(inputs))
    job = make_job(out_dir, options, settings, threads=threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(job.run_one, inputs))
    mark_shard_done(out_dir, shard)
    return ShardReport(
        shard_id=shard.shard_id,
        videos=len(inputs),
        processed=sum(not o.skipped for o in outcomes),
        detected=sum(o.detected for o in outcomes),
        aligned=sum(o.aligned for o in outcomes),
        failed=sum(o.video["status"] != "ok" for o in outcomes),
        frames=sum(o.frames_decoded for o in outcomes),
        seconds=time.perf_counter() - started,
    )


def finish(out_dir: Path, plan_: Plan, options: dict, settings: IngestSettings, reports: list[ShardReport], started: float) -> IngestReport:
    """Merge every finished video into the manifests and report on the run."""
    job = make_job(out_dir, options, settings)
    pairs = [(i, job.skip(i)) for i in plan_.inputs]
    done: list[tuple[VideoInput, VideoOutcome]] = [(i, o) for i, o in pairs if o is not None]
    missing = [f"{i.entry.uri}: not processed (its shard did not finish)" for i, o in pairs if o is None]
    write_manifests(out_dir, [i for i, _ in done], [o for _, o in done])
    failed = [o for _, o in done if o.video["status"] != "ok"]
    return IngestReport(
        snapshot_id=plan_.snapshot_id,
        videos=len(plan_.inputs),
        todo=plan_.todo,
        shards=len(reports),
        processed=sum(r.processed for r in reports),
        detected=sum(r.detected for r in reports),
        aligned=sum(r.aligned for r in reports),
        ok=len(done) - len(failed),
        failed=len(failed) + len(missing),
        frames=sum(r.frames for r in reports),
        faces=sum(o.detections.num_rows for _, o in done if o.crops is not None),
        wall_s=time.perf_counter() - started,
        max_failure_ratio=settings.max_failure_ratio,
        failures=tuple([f"{o.video['error']} [{o.video['error_kind']}]" for o in failed] + missing),
    )


def forget_retryable_failures(corpus: Path, out_dir: Path, options: dict, settings: IngestSettings) -> list[str]:
    """Drop the recorded results of videos that failed transiently (or timed out), so the
    next run redoes them; returns their video ids."""
    job = make_job(out_dir, options, settings)
    forgotten = []
    for item in snapshot(load_corpus(corpus)):
        det = job.detect.load(item.video_id)
        if det is not None and not det.ok and det.video["error_kind"] in RETRYABLE_KINDS:
            shutil.rmtree(job.detect.folder(item.video_id))
            forgotten.append(item.video_id)
    return forgotten
