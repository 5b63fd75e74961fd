"""``facecorpus extract`` (sample, detect and align in this process) and ``sample-corpus``."""

from __future__ import annotations

import argparse
import sys

from pipeline.alignment.crops import CROPS_DIR
from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags
from pipeline.config import IngestOptions
from pipeline.runs.extract import RunSummary
from schemas.manifests import FACES_MANIFEST, TRACKS_MANIFEST, VIDEOS_MANIFEST

CORPUS = Flag("extract", "corpus", positional=True)
EXTRACT_FLAGS = [CORPUS, *section_flags("extract", exclude=("corpus",)), *section_flags("policy")]


def register(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser(
        "extract",
        help="sample, detect, align and curate in this process, write manifests",
        description="Sample frames, detect, align and curate faces of every input of CORPUS; write the manifests and crops.",
        formatter_class=FORMATTER,
    )
    add_params_flags(ex, [*EXTRACT_FLAGS, *section_flags("curate"), Flag("validate", "max_failure_ratio")])
    ex.add_argument(
        "--timeout-s", type=float, default=IngestOptions.timeout_s, help="per-input timeout (probe and decode), s (default: %(default)s)"
    )
    ex.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ex.set_defaults(func=_cmd_extract)
    sc = sub.add_parser(
        "sample-corpus",
        help="build the bundled sample corpus from images shipped in installed packages",
        description="Render the bundled sample corpus (two short clips, three stills, a manifest.csv) into a folder.",
        formatter_class=FORMATTER,
    )
    add_params_flags(sc, section_flags("sample_corpus", "out"))
    sc.set_defaults(func=_cmd_sample_corpus)


def _cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.runs.extract import run_extract

    options = options_from(args)
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(items):
            return tqdm(items, desc="videos", unit="video", file=sys.stderr, disable=None)

    summary = run_extract(options.extract, options.curate, progress=progress, timeout_s=args.timeout_s, policy=options.policy)
    print(summary_text(summary))
    return failure_gate(summary, options.validate.max_failure_ratio)


EXIT_TOO_MANY_FAILURES = 1


def failure_gate(summary: RunSummary, max_failure_ratio: float) -> int:
    """The ingest flow's gate: exit 1 when more than ``max_failure_ratio`` of the inputs failed."""
    if summary.failure_ratio <= max_failure_ratio:
        return 0
    print(
        f"facecorpus: {summary.videos_failed} of {summary.inputs} inputs failed ({summary.failure_ratio:.0%}), more than "
        f"validate.max_failure_ratio {max_failure_ratio:g}: the run counts as failed (the reasons are listed above)",
        file=sys.stderr,
    )
    return EXIT_TOO_MANY_FAILURES


def summary_text(summary: RunSummary) -> str:
    out = summary.out_dir
    lines = [
        f"inputs: {summary.inputs}: {summary.videos_ok} ok ({summary.videos_ok - summary.stills_ok} videos, "
        f"{summary.stills_ok} stills), {summary.videos_failed} failed ({summary.videos_reused} already done"
        + (f"; {summary.failures_stored_before} failures stored by an earlier run" if summary.failures_stored_before else "")
        + f"), {summary.videos_excluded} excluded by the policy",
        f"detector ran on {summary.videos_detected} videos, alignment on {summary.videos_aligned}",
        f"frames sampled: {summary.frames_sampled}   faces: {summary.faces}",
        f"wall time: {summary.wall_s:.2f} s   frames/s: {summary.frames_per_s:.1f}",
        *curation_lines(summary),
        f"manifests: {out / VIDEOS_MANIFEST}, {out / FACES_MANIFEST}, {out / TRACKS_MANIFEST}",
        f"crops: {out / CROPS_DIR}",
    ]
    return "\n".join(lines + [f"failed: {failure}" for failure in summary.failures])


def curation_lines(summary: RunSummary) -> list[str]:
    c = summary.curation
    if c is None:
        return []
    reasons = ", ".join(f"{k} {v}" for k, v in c.filtered_by_reason.items()) or "none"
    return [
        f"faces kept: {c.kept}, filtered: {c.filtered} ({reasons}), duplicate: {c.duplicate}; tracks: {c.tracks}",
        f"near-duplicate videos: {c.near_duplicate_videos}",
    ]


def _cmd_sample_corpus(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.corpus.sample import build_sample_corpus

    out = Path(options_from(args).sample_corpus.out)
    paths = build_sample_corpus(out)
    print(f"sample corpus: {len(paths)} files in {out}")
    return 0
