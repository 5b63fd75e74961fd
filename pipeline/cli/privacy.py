"""``facecorpus forget``, ``audit`` and ``gc``: erasure, its proof, and housekeeping (``pipeline/privacy/``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.extract import EXTRACT_FLAGS
from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags

# The training view (select.out), the release (pack.out) and the snapshot folder come from --params.
OUTPUT_FLAGS = [*section_flags("curate"), Flag("corpus", "snapshot_dir")]
EXIT_FOUND = 1


def register(sub: argparse._SubParsersAction) -> None:
    fo = sub.add_parser(
        "forget",
        help="erase a video, uri, subject or identity everywhere: dataset, work, release, DVC cache and remote",
        description="Erase the target's rows, crops, work folders and shard entries; repack the release; delete its bytes from "
        "old releases in the DVC cache and the default remote (old shards replaced by repacks without it); append the erasure "
        "to the log (policy.erasures), which later runs deny. Then commit the log, `dvc repro` and release.",
        formatter_class=FORMATTER,
    )
    target = fo.add_mutually_exclusive_group(required=True)
    for kind, what in (("video", "video_id"), ("uri", "corpus uri"), ("subject", "subject field"), ("identity", "identity_id (faces)")):
        target.add_argument(f"--{kind}", metavar="ID", help=f"erase by {what}")
    fo.add_argument("--reason", required=True, help="why (recorded in the erasure log and counted on the next card) (required)")
    _repo_flags(fo)
    add_params_flags(fo, [*EXTRACT_FLAGS, *OUTPUT_FLAGS])
    fo.set_defaults(func=_cmd_forget)
    au = sub.add_parser(
        "audit",
        help="prove the erasures: scan dataset, work, release, DVC cache and remote for erased bytes or ids",
        description="Scan the tree (sha256 of every file and tar member; Parquet cells and file bytes for erased ids) and the "
        "DVC cache and default remote (sha256 of every object and tar member) for what the erasure log erased. Exit 1 on a find.",
        formatter_class=FORMATTER,
    )
    _repo_flags(au)
    add_params_flags(au, [*EXTRACT_FLAGS, *OUTPUT_FLAGS])
    au.set_defaults(func=_cmd_audit)
    gc = sub.add_parser(
        "gc",
        help="remove crops and work folders no manifest references (orphans after a preset change or a removed video)",
        description="List (--dry-run) or remove the orphan crops and work folders; the current run's folders are kept.",
        formatter_class=FORMATTER,
    )
    gc.add_argument("--dry-run", action="store_true", help="list the orphans, remove nothing")
    add_params_flags(gc, [*EXTRACT_FLAGS, *section_flags("curate")])
    gc.set_defaults(func=_cmd_gc)


def _repo_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git + DVC project whose cache and remote to reach (default: .)")
    parser.add_argument("--no-dvc", action="store_true", help="the working tree only: leave the DVC cache and remote alone")
    parser.add_argument("--remote", default=None, help="DVC remote (default: the project's default remote)")


def _dvc_repo(args: argparse.Namespace) -> Path | None:
    return None if args.no_dvc or not (args.repo / ".dvc").is_dir() else args.repo


def _cmd_forget(args: argparse.Namespace) -> int:
    from pipeline.privacy.forget import forget
    from pipeline.privacy.select import Target

    kind = next(k for k in ("video", "uri", "subject", "identity") if getattr(args, k))
    result = forget(options_from(args), Target(kind, getattr(args, kind)), args.reason, _dvc_repo(args), args.remote)
    e = result.erasure
    print(
        f"erased ({e.erasure_id}): {len(e.face_ids)} faces of {len(e.video_ids)} videos; {len(e.shard_md5)} old DVC objects "
        f"({len(result.swept_reports)} of them old report pages and images) deleted from the cache and remote; "
        f"{result.tree_changes} paths removed or rewritten; {result.faces_now} faces remain"
    )
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from pipeline.privacy.audit import audit

    checked, findings = audit(options_from(args), _dvc_repo(args), args.remote)
    for finding in findings:
        print(f"FOUND [{finding.store}] {finding.location}: {finding.what}")
    print(f"audit: {checked} erasures checked, {len(findings)} finds")
    return EXIT_FOUND if findings else 0


def _cmd_gc(args: argparse.Namespace) -> int:
    from pipeline.privacy.gc import collect

    options = options_from(args)
    orphans = collect(options, dry_run=args.dry_run)
    for path in orphans.paths:
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    dry = " (dry run)" if args.dry_run else ""
    print(f"gc: {len(orphans.work)} work folders, {len(orphans.crops)} crops, {len(orphans.masks)} masks{dry}")
    return 0
