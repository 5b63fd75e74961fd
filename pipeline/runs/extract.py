"""One extraction run over a corpus, in this process: snapshot, each video, merge."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import CurateOptions, ExtractOptions, PolicyOptions
from pipeline.curate.dataset import CurationCounts
from pipeline.errors import CorpusError
from pipeline.records import Status
from pipeline.runs.admit import admit
from pipeline.runs.lock import folders_lock
from pipeline.runs.manifests import curate_and_write
from pipeline.runs.pairorder import pair_order
from pipeline.stages.base import StageCounts
from pipeline.stages.video import VideoOutcome, VideoPass


@dataclass(frozen=True)
class RunSummary:
    """What a run did: the videos' statuses (from their records) and each stage's counts."""

    out_dir: Path
    videos_ok: int
    videos_failed: int
    faces: int
    wall_s: float
    failures: tuple[str, ...]
    counts: dict[str, StageCounts]
    curation: CurationCounts | None = None
    videos_excluded: int = 0  # kept out by the policy (never decoded)
    stills_ok: int = 0  # ok inputs that are still images (a one-frame video each)

    @property
    def inputs(self) -> int:
        """Inputs processed (ok or failed); those the policy excluded are counted apart."""
        return self.videos_ok + self.videos_failed

    @property
    def failures_stored_before(self) -> int:
        """Failed inputs whose failure an earlier run stored (reused, not failed again in this run)."""
        return self.videos_failed - self.counts["video"].failures

    @property
    def videos_reused(self) -> int:
        """Inputs whose finished, successful work an earlier run stored ("already done")."""
        return max(0, self.counts["video"].reused - self.failures_stored_before)

    @property
    def videos_detected(self) -> int:
        return self.counts["detect"].saved

    @property
    def videos_aligned(self) -> int:
        return self.counts["align"].saved if "align" in self.counts else 0

    @property
    def frames_sampled(self) -> int:
        return self.counts["video"].frames

    @property
    def frames_per_s(self) -> float:
        return self.frames_sampled / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def failure_ratio(self) -> float:
        total = self.videos_ok + self.videos_failed
        return self.videos_failed / total if total else 0.0


@dataclass(frozen=True)
class _Counted:
    """Items as they come, with their number (a progress bar's total)."""

    items: Iterator
    count: int

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __len__(self) -> int:
        return self.count


def summarize(
    out_dir: Path,
    outcomes: list[VideoOutcome],
    counts: dict[str, StageCounts],
    wall_s: float,
    curation: CurationCounts | None = None,
    excluded: int = 0,
) -> RunSummary:
    failed = [o.detect for o in outcomes if o.detect.status is Status.FAILED]
    return RunSummary(
        out_dir=Path(out_dir),
        videos_ok=len(outcomes) - len(failed),
        videos_failed=len(failed),
        faces=sum(o.detections.num_rows for o in outcomes),
        wall_s=wall_s,
        failures=tuple(f"{d.error} [{d.error_kind}]" for d in failed),
        counts=counts,
        curation=curation,
        videos_excluded=excluded,
        stills_ok=sum(1 for o in outcomes if o.ok and o.detect.media is not None and o.detect.media.is_image),
    )


def run_extract(
    extract: ExtractOptions,
    curate: CurateOptions | None = None,
    *,
    progress: Callable[[Iterable], Iterable] | None = None,
    timeout_s: float | None = None,
    align: bool = True,
    merge: bool = True,
    policy: PolicyOptions | None = None,
) -> RunSummary:
    """Extract every video of ``extract.corpus``, one after another, then curate and merge the
    manifests (``curate``: its options, default the defaults). ``align=False``: the detect
    stage only, into its detect folder; ``merge=False``: no curation and no manifests (the
    DVC align stage; ``facecorpus curate`` does the rest). ``policy``: videos it excludes
    are never decoded, erased ones left out (``pipeline/runs/admit.py``)."""
    started = time.perf_counter()
    # Aligning writes detect work too (into extract.detect_dir): both folders are held.
    with folders_lock([extract.detect_dir, extract.out_dir] if align else [extract.detect_dir]):
        admission = admit(extract, policy)
        inputs = list(admission.admitted)
        if not inputs and not admission.excluded and not admission.denied:
            raise CorpusError(f"corpus {extract.corpus}: no inputs (an empty folder or manifest)")
        job = VideoPass.build(extract, align=align, timeout_s=timeout_s)
        order = pair_order(inputs)  # originals before their fakes: a fake reuses its original's detections
        job.originals = order.originals
        # The progress bar counts finished videos: the pass reads its items one ahead (it opens the next video early).
        finished = job.run(order.inputs)
        outcomes_in_order = progress(_Counted(finished, len(order.inputs))) if progress else finished
        # The outcomes come first in the zip: it runs them out, so the bar ends at N of N and the pass's
        # run() ends (closing what it opened ahead) before curation starts.
        done = {i.video_id: o for o, i in zip(outcomes_in_order, order.inputs)}
        outcomes = [done[i.video_id] for i in inputs]
        counts = {stage.name: stage.counts for stage in job.stages}
        curation = None
        if align and merge:
            curation, curate_counts = curate_and_write(extract.out_dir, job, inputs, outcomes, curate or CurateOptions(), admission)
            counts |= curate_counts
    return summarize(extract.out_dir, outcomes, counts, time.perf_counter() - started, curation, len(admission.excluded))


def run_curate(extract: ExtractOptions, curate: CurateOptions, policy: PolicyOptions | None = None) -> RunSummary:
    """Curate the stored work of every admitted video of ``extract.corpus`` and write the manifests,
    decoding nothing (the DVC curate stage): every video must have been detected and aligned."""
    started = time.perf_counter()
    # Admission (the erasure log's deny-list) and the stored work are read under the lock too: a
    # forget between reading them and writing would otherwise be undone by this write.
    with folders_lock([extract.detect_dir, extract.out_dir]):
        admission = admit(extract, policy)
        inputs = list(admission.admitted)
        job = VideoPass.build(extract)
        job.originals = pair_order(inputs).originals  # an aligned fake's stored work is valid for its original
        outcomes = [job.stored(i) for i in inputs]
        missing = [i.entry.uri for i, o in zip(inputs, outcomes) if o is None]
        if missing:
            listed = ", ".join(missing[:5])
            raise ValueError(f"no stored detections or crops for {len(missing)} videos ({listed}): run detect and align first")
        curation, curate_counts = curate_and_write(extract.out_dir, job, inputs, outcomes, curate, admission)
    counts = {stage.name: stage.counts for stage in job.stages} | curate_counts
    return summarize(extract.out_dir, outcomes, counts, time.perf_counter() - started, curation, len(admission.excluded))


def missing_detections(extract: ExtractOptions, policy: PolicyOptions | None = None) -> list[str]:
    """Uris of admitted corpus videos the detect stage has not finished (under the current fingerprint)."""
    job = VideoPass.build(extract, align=False)
    inputs = list(admit(extract, policy).admitted)
    job.originals = pair_order(inputs).originals
    return [i.entry.uri for i in inputs if job.load_detect(i.video_id) is None]
