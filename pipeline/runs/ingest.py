"""The ingest job's library half (flows/ingest.py is the Prefect half; this never imports prefect).

prepare: snapshot the corpus and plan shards of the videos with work left ->
run_shard: each shard's videos through a worker pool (the video pass, then the
per-video curation stages) -> finish: curate the dataset, merge the manifests
and report counts, curation, failures and throughput. Every function takes the
one :class:`~pipeline.config.Options` object; the counts come from the stages.
"""

from __future__ import annotations

import contextvars
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Options
from pipeline.corpus.plan import Shard, mark_shard_done, plan, write_snapshot
from pipeline.corpus.snapshot import VideoInput
from pipeline.curate.dataset import CurationCounts
from pipeline.curate.video import CurateVideos
from pipeline.records import Status
from pipeline.runs.admit import Admission, admit
from pipeline.runs.manifests import curate_and_write
from pipeline.runs.pairorder import pair_order
from pipeline.stages.base import StageCounts, sum_counts
from pipeline.stages.video import VideoOutcome, VideoPass


@dataclass(frozen=True)
class Plan:
    snapshot_id: str
    inputs: tuple[VideoInput, ...]
    shards: tuple[Shard, ...]
    todo: int
    admission: Admission | None = None

    @property
    def planned_ids(self) -> frozenset[str]:
        """The videos this run set out to process (its shards' videos)."""
        return frozenset(v for s in self.shards for v in s.video_ids)

    def shard_inputs(self, shard: Shard) -> list[VideoInput]:
        by_id = {i.video_id: i for i in self.inputs}
        return [by_id[v] for v in shard.video_ids if v in by_id]


@dataclass(frozen=True)
class ShardReport:
    """One shard's run: its videos and every stage's counts (JSON, for Prefect and Dask)."""

    shard_id: str
    videos: int
    seconds: float
    counts: dict[str, dict[str, Any]]
    pool_workers: int = 1  # videos at once
    pool_threads: int = 1  # onnxruntime threads per video

    def stage_counts(self) -> dict[str, StageCounts]:
        return {name: StageCounts.from_json(value) for name, value in self.counts.items()}


@dataclass(frozen=True)
class Failure:
    """A video that failed, or was planned and has no result: a row of the failures table."""

    uri: str
    error: str
    error_kind: str  # permanent | transient | timeout | not_finished


@dataclass(frozen=True)
class IngestReport:
    snapshot_id: str
    videos: int
    todo: int
    shards: int
    ok: int
    failed: int
    faces: int
    wall_s: float
    max_failure_ratio: float
    counts: dict[str, StageCounts]
    failures: tuple[str, ...] = field(default=())
    curation: CurationCounts | None = None
    not_yet_processed: tuple[str, ...] = field(default=())  # outside this run's plan (retry-failed): not failures
    shards_failed: tuple[str, ...] = field(default=())  # "<shard_id>: <reason>" of each shard task that did not finish
    pool_cores: int = 0  # the most cores one shard's pool used (videos at once x threads each)
    failed_videos: tuple[Failure, ...] = field(default=())
    excluded: int = 0  # kept out by the policy (never decoded)

    def _count(self, stage: str, what: str) -> int:
        return getattr(self.counts[stage], what) if stage in self.counts else 0

    @property
    def processed(self) -> int:
        return self._count("video", "processed") + self._count("video", "failures")

    @property
    def detected(self) -> int:
        """Videos the detector ran on."""
        return self._count("detect", "saved")

    @property
    def aligned(self) -> int:
        return self._count("align", "saved")

    @property
    def frames(self) -> int:
        return self._count("video", "frames")

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
            f"| shards run | {self.shards} ({len(self.shards_failed)} did not finish) |",
            f"| videos processed | {self.processed} (detector ran on {self.detected}, aligned {self.aligned}) |",
            f"| videos ok / failed | {self.ok} / {self.failed} |",
            f"| videos not yet processed | {len(self.not_yet_processed)} (outside this run; not failures) |",
            f"| videos excluded by the policy | {self.excluded} |",
            f"| failure ratio | {self.failure_ratio:.3f} (max {self.max_failure_ratio:g}: {gate}) |",
            f"| frames decoded | {self.frames} |",
            f"| faces in dataset | {self.faces} |",
            *(self.curation.markdown_rows() if self.curation else []),
            f"| wall time | {self.wall_s:.2f} s |",
            f"| throughput | {self.frames_per_s:.1f} frames/s |",
            f"| snapshot | `{self.snapshot_id}` |",
        ]
        if self.shards_failed:
            lines += ["", "## Shards that did not finish", "", *[f"- {f}" for f in self.shards_failed]]
        if self.failures:
            lines += ["", "## Failures", "", *[f"- {f}" for f in self.failures]]
        if self.not_yet_processed:
            lines += ["", "## Not yet processed", "", *[f"- {u}" for u in self.not_yet_processed]]
        return "\n".join(lines) + "\n"


def video_pass(options: Options, threads: int | None = None) -> VideoPass:
    ingest = options.ingest
    return VideoPass.build(
        options.extract,
        threads=ingest.pool_for(ingest.worker_count())[1] if threads is None else threads,
        timeout_s=ingest.timeout_s,
        retries=ingest.retries,
        backoff_s=ingest.backoff_s,
    )


def prepare(options: Options, only: list[str] | None = None) -> Plan:
    """Snapshot the corpus and plan shards for every video with work left (restricted to ``only``)."""
    extract = options.extract
    admission = admit(extract, options.policy)
    inputs = list(admission.admitted)
    snapshot_id = write_snapshot(extract.out_dir, inputs)
    job = video_pass(options)
    order = pair_order(inputs)
    job.originals = order.originals
    todo = [i for i in inputs if (only is None or i.video_id in only) and job.stored(i) is None]
    fingerprints = {"detect": job.detect.fingerprint, "align": job.align.fingerprint}
    shard_bytes = int(options.ingest.shard_mb * 1e6)
    shards = plan(extract.out_dir, todo, fingerprints, options.ingest.shard_videos, shard_bytes, order.family())
    return Plan(snapshot_id, tuple(inputs), tuple(shards), len(todo), admission)


def run_shard(
    options: Options, shard: Shard, inputs: list[VideoInput], cores: int | None = None, progress: Callable[[str], None] | None = None
) -> ShardReport:
    """Run a shard's videos through a pool of ``ingest.worker_count`` threads (decoding
    runs in ffmpeg processes and inference releases the GIL; no more threads than
    videos, the ``cores`` this process may use split among them (unset: the machine's;
    a Dask worker passes its share): ``IngestOptions.pool_for``), then mark the shard done.
    ``progress`` gets one line per video as it finishes (uri, status, faces or the reason, seconds)."""
    started = time.perf_counter()
    workers, threads = options.ingest.pool_for(len(inputs), cores)
    job = video_pass(options, threads=threads)
    order = pair_order(inputs)  # a fake reuses its original's detections when both are in the shard
    job.originals = order.originals
    curation = CurateVideos(job, options.extract.out_dir, options.curate)

    def one(item: VideoInput) -> None:
        began = time.perf_counter()
        outcome = job.run_one(item)
        curation.run_one(outcome)
        if progress is not None:
            progress(progress_line(item, outcome, time.perf_counter() - began))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each video runs in a copy of the caller's context, so an orchestrator's log
        # handler (Prefect's, which reads its run from a context variable) sees the
        # pool's log records as the shard's.
        for wave in order.waves():  # originals finish before their fakes start
            runs = [pool.submit(contextvars.copy_context().run, one, item) for item in wave]
            for run in runs:
                run.result()
    mark_shard_done(options.extract.out_dir, shard)
    counts = {stage.name: stage.counts.to_json() for stage in (*job.stages, *curation.stages)}
    return ShardReport(shard.shard_id, len(inputs), time.perf_counter() - started, counts, workers, threads)


def progress_line(item: VideoInput, outcome: VideoOutcome | None, seconds: float) -> str:
    if outcome is None:
        return f"{item.entry.uri}: not processed ({seconds:.1f} s)"
    if not outcome.ok:
        return f"{item.entry.uri}: failed: {outcome.detect.error} [{outcome.detect.error_kind}] ({seconds:.1f} s)"
    return f"{item.entry.uri}: ok, {outcome.detections.num_rows} faces ({seconds:.1f} s)"


def finish(options: Options, plan_: Plan, reports: list[ShardReport], started: float, shards_failed: tuple[str, ...] = ()) -> IngestReport:
    """Curate every finished video and the dataset, merge the manifests, report on the run.
    A planned video with no result is a failure (its shard did not finish: ``shards_failed``
    says why); a video outside the plan (``retry-failed`` plans only the retried ones) is
    not yet processed, which is not a failure."""
    job = video_pass(options)
    job.originals = pair_order(list(plan_.inputs)).originals
    pairs = [(i, job.stored(i)) for i in plan_.inputs]
    done: list[tuple[VideoInput, VideoOutcome]] = [(i, o) for i, o in pairs if o is not None]
    planned = plan_.planned_ids
    missing = [f"{i.entry.uri}: not processed (its shard did not finish)" for i, o in pairs if o is None and i.video_id in planned]
    untried = tuple(i.entry.uri for i, o in pairs if o is None and i.video_id not in planned)
    table = [Failure(i.entry.uri, o.detect.error or "", str(o.detect.error_kind)) for i, o in done if o.detect.status is Status.FAILED]
    table += [Failure(i.entry.uri, "its shard did not finish", "not_finished") for i, o in pairs if o is None and i.video_id in planned]
    curation, curate_counts = curate_and_write(
        options.extract.out_dir, job, [i for i, _ in done], [o for _, o in done], options.curate, plan_.admission
    )
    failed = [o.detect for _, o in done if o.detect.status is Status.FAILED]
    return IngestReport(
        snapshot_id=plan_.snapshot_id,
        videos=len(plan_.inputs),
        todo=plan_.todo,
        shards=len(reports),
        ok=len(done) - len(failed),
        failed=len(failed) + len(missing),
        faces=sum(o.detections.num_rows for _, o in done if o.crops is not None),
        wall_s=time.perf_counter() - started,
        max_failure_ratio=options.validate.max_failure_ratio,
        counts=sum_counts([*(r.stage_counts() for r in reports), curate_counts]),
        failures=tuple([f"{d.error} [{d.error_kind}]" for d in failed] + missing),
        curation=curation,
        not_yet_processed=untried,
        shards_failed=shards_failed,
        pool_cores=max((r.pool_workers * r.pool_threads for r in reports), default=0),
        failed_videos=tuple(table),
        excluded=len(plan_.admission.excluded) if plan_.admission else 0,
    )


def forget_retryable_failures(options: Options) -> list[str]:
    """Drop the recorded results of videos that failed transiently (or timed out), so the
    next run redoes them; returns their video ids."""
    job = video_pass(options)
    forgotten = []
    for item in admit(options.extract, options.policy).admitted:
        det = job.detect.load(item.video_id)
        if det is not None and not det.ok and det.outcome.error_kind is not None and det.outcome.error_kind.retryable:
            shutil.rmtree(job.detect.folder(item.video_id))
            forgotten.append(item.video_id)
    return forgotten
